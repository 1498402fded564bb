"""The Ray path's overhead against the plain batch path, side by side on the same photos: `impasto
stylize --cluster` on a local Ray cluster (one worker per core) against `impasto stylize` on a
folder, both at --size 512 with the same runtime; then the memory of the Ray head and of each
worker, and the time a run takes to recover from a worker killed mid-run.

    .venv/bin/python bench/cluster.py [--photos 200] [--runtime torch]

On one 2-core machine scaling cannot show: this measures what the cluster costs, not what it gains.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train"
IMPASTO = [sys.executable, "-m", "impasto.cli"]


def rss_mib(pattern: str) -> list[float]:
    pids = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    sizes = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sizes


def run(cmd: list[str], env: dict) -> tuple[float, dict]:
    began = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return time.perf_counter() - began, json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--runtime", default="torch")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="impasto-cluster-bench-"))
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "CI": "1"}
    ray = str(Path(sys.executable).parent / "ray")
    try:
        photos = work / "photos"
        photos.mkdir()
        for path in sorted(TRAIN.glob("*.jpg"))[: args.photos]:
            shutil.copy(path, photos)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                        f"--num-cpus={os.cpu_count()}", f"--temp-dir={temp}", "--include-dashboard=false",
                        "--disable-usage-stats"], capture_output=True, env=env, check=True)
        common = ["stylize", "--model", "mosaic", str(photos), "--size", "512", "--runtime", args.runtime,
                  "--json", "--quiet"]
        rows = []
        for attempt in range(2):  # the two paths alternated, twice
            plain, _ = run([*IMPASTO, *common, "-o", str(work / f"plain{attempt}")], env)
            peaks = {}

            def watch():
                while not peaks.get("stop"):
                    peaks["head"] = max(peaks.get("head", 0), sum(rss_mib("gcs_server|raylet")))
                    workers = rss_mib("ray::Stylist")
                    peaks["worker"] = max([peaks.get("worker", 0), *workers])
                    time.sleep(0.5)
            watcher = threading.Thread(target=watch)
            watcher.start()
            clustered, summary = run([*IMPASTO, *common, "-o", str(work / f"cluster{attempt}"),
                                      "--cluster", f"127.0.0.1:{port}"], env)
            peaks["stop"] = True
            watcher.join()
            rows.append({"plain_s": round(plain, 1), "cluster_s": round(clustered, 1),
                         "ratio": round(clustered / plain, 3), "workers": summary["workers"],
                         "head_rss_mib": round(peaks.get("head", 0)), "worker_rss_mib": round(peaks.get("worker", 0))})
            print(json.dumps(rows[-1]), flush=True)
        # recovery: kill a worker once the run has written a tenth, and time the whole run
        out = work / "killed"
        cmd = [*IMPASTO, *common, "-o", str(out), "--cluster", f"127.0.0.1:{port}"]
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        killed_at = None
        while proc.poll() is None:
            if killed_at is None and out.exists() and len(list(out.glob("*.png"))) >= args.photos // 10:
                pids = subprocess.run(["pgrep", "-f", "ray::Stylist"], capture_output=True, text=True).stdout.split()
                if pids:
                    os.kill(int(pids[0]), signal.SIGKILL)
                    killed_at = time.perf_counter() - began
            time.sleep(0.1)
        summary = json.loads(proc.stdout.read().strip().splitlines()[-1])
        print(json.dumps({"killed_at_s": killed_at and round(killed_at, 1),
                          "total_s": round(time.perf_counter() - began, 1), "outputs": len(list(out.glob("*.png"))),
                          "redone_batches": summary["redone_batches"], "exit": proc.returncode}), flush=True)
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env)
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
