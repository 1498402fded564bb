"""The README's web-app screenshot, taken in headless Chromium: a fast result with an uploaded
painting, a best-quality job and a few more in the gallery.

    .venv/bin/python scripts/serve_screenshot.py    # writes docs/images/web_app.png
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT.parent / "shared" / "data" / "content"


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen([sys.executable, "-m", "impasto.cli", "serve", "--port", str(port), "--data", data])
        try:
            for _ in range(100):
                try:
                    httpx.get(f"{base}/api/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            for photo, style in (("golden_gate.jpg", "wave"), ("chicago.jpg", "candy"), ("hoovertowernight.jpg", "starry_night")):
                httpx.post(f"{base}/api/jobs", files={"photo": (photo, (CONTENT / photo).read_bytes())},
                           data={"style": style, "size": "384"}, timeout=60)
            httpx.post(f"{base}/api/jobs", files={"photo": ("brad_pitt.jpg", (CONTENT / "brad_pitt.jpg").read_bytes())},
                       data={"style": "the_scream", "method": "best", "size": "256", "iterations": "120"}, timeout=60)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1360, "height": 1000})
                page.goto(base + "/")
                page.set_input_files("#file", str(ROOT / "examples" / "tubingen.jpg"))
                # any painting, fast: an uploaded painting through the arbitrary-style network
                page.set_input_files("#painting", str(CONTENT.parent / "style" / "shipwreck.jpg"))
                page.eval_on_selector("#amount", "e => { e.value = '0.8'; e.dispatchEvent(new Event('input')); }")
                page.click("#go")
                page.wait_for_selector("#result", timeout=120_000)
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and any(
                        j["status"] != "done" for j in httpx.get(f"{base}/api/jobs").json()):
                    time.sleep(1)
                page.evaluate("refreshGallery()")
                page.wait_for_timeout(1500)
                page.screenshot(path=str(ROOT / "docs" / "images" / "web_app.png"), full_page=True)
                browser.close()
        finally:
            server.kill()
    print("wrote docs/images/web_app.png")


if __name__ == "__main__":
    main()
