"""The documentation site builds offline with no broken links or missing pages, and its CLI
reference is the parser's."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is not installed (setup.sh installs the docs extra)")
@pytest.mark.slow
def test_site_builds_strict_with_the_generated_cli_reference(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli = (tmp_path / "cli" / "index.html").read_text()
    for command in ("optimize", "stylize", "train", "video", "audio", "serve"):
        assert f"impasto {command}" in cli
    assert "--preserve-color" in cli and "--max-upload-mb" in cli  # options from core/config.py
    page = (tmp_path / "index.html").read_text()
    assert "fonts.googleapis" not in page and "cdn." not in page  # nothing from the network


def test_readme_is_a_short_front_door():
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(readme) <= 200
    assert any(line.startswith("./setup.sh && .venv/bin/python -m pytest") for line in readme)
