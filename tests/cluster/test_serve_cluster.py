"""`impasto serve --cluster`: the web app's jobs run on a local Ray cluster's workers, with progress
over server-sent events, cancel, and the job record on the server."""

import io
import time

import httpx
import pytest
from PIL import Image


def png(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()




def running(base, job_id, timeout=120):
    """Wait until the job has taken two steps on its worker."""
    deadline = time.monotonic() + timeout
    while httpx.get(f"{base}/api/jobs/{job_id}").json()["progress"].get("iteration", 0) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.mark.slow
def test_web_jobs_run_on_the_cluster(tmp_path, ray_cluster, start_server, free_port, wait_job):
    port = free_port()
    start_server(tmp_path / "data", port, "--cluster", ray_cluster)
    base = f"http://127.0.0.1:{port}"
    fast = httpx.post(f"{base}/api/jobs", files={"photo": ("p.png", png())}, data={"style": "mosaic"}).json()
    done = wait_job(httpx.Client(base_url=base), fast["id"])
    assert done["status"] == "done", done
    result = httpx.get(f"{base}/api/jobs/{fast['id']}/result")
    assert Image.open(io.BytesIO(result.content)).size == (64, 48)
    best = httpx.post(f"{base}/api/jobs", files={"photo": ("p.png", png())},
                      data={"style": "mosaic", "method": "best", "size": "32", "iterations": "6"}).json()
    with httpx.stream("GET", f"{base}/api/jobs/{best['id']}/events", timeout=180) as events:
        seen = [line for line in events.iter_lines() if line.startswith("data:")]
    assert wait_job(httpx.Client(base_url=base), best["id"])["status"] == "done" and len(seen) >= 2
    slow = httpx.post(f"{base}/api/jobs", files={"photo": ("p.png", png())},
                      data={"style": "mosaic", "method": "best", "size": "48", "iterations": "2000"}).json()
    running(base, slow["id"])
    assert httpx.post(f"{base}/api/jobs/{slow['id']}/cancel").status_code == 200
    assert wait_job(httpx.Client(base_url=base), slow["id"])["status"] == "cancelled"


@pytest.mark.slow
def test_a_worker_that_dies_mid_job_gets_its_job_queued_again(tmp_path, ray_cluster, start_server, free_port,
                                                               wait_job):
    import os
    import signal
    import subprocess

    port = free_port()
    start_server(tmp_path / "data", port, "--cluster", ray_cluster)
    base = f"http://127.0.0.1:{port}"
    job = httpx.post(f"{base}/api/jobs", files={"photo": ("p.png", png())},
                     data={"style": "mosaic", "method": "best", "size": "48", "iterations": "150"}).json()
    running(base, job["id"])
    pids = subprocess.run(["pgrep", "-f", "ray::JobRunner"], capture_output=True, text=True).stdout.split()
    for pid in pids:  # every worker: the one running the job among them
        os.kill(int(pid), signal.SIGKILL)
    done = wait_job(httpx.Client(base_url=base), job["id"], timeout=240)
    assert done["status"] == "done", done  # queued again, then run to the end on a restarted worker
    result = httpx.get(f"{base}/api/jobs/{job['id']}/result")
    assert result.status_code == 200 and Image.open(io.BytesIO(result.content)).size == (48, 36)
