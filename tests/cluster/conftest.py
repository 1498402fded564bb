"""A local Ray cluster for the tests: `ray start --head` on loopback with its own ports and temporary
folder, two CPUs (two workers), stopped when the tests end, whatever happens."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the cluster extra is not installed (pip install 'impasto[cluster]'; "
                                        "setup.sh installs it)")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster():
    exe = str(Path(sys.executable).parent / "ray")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's sockets live under it
    port = _port()
    # A throwaway cluster on loopback: no token (the driver here is this test process).
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.run([exe, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                              "--num-cpus=2", f"--temp-dir={temp}", "--include-dashboard=false",
                              "--disable-usage-stats"],
                             capture_output=True, text=True, env=env, timeout=120)
    if started.returncode != 0:
        pytest.fail(f"ray start failed: {started.stderr[-800:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([exe, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
