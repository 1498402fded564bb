"""The web app's tests: a real server on loopback, started and always stopped by the test."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port():
    return _free_port


@pytest.fixture
def start_server():
    """start_server(data, port, *options) -> the `impasto serve` process, once it answers; every
    process it started is killed when the test ends, whatever happens."""
    started: list[subprocess.Popen] = []

    def start(data: Path, port: int, *options: str, ready: bool = True) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "impasto.cli", "serve", "--port", str(port),
                                    "--data", str(data), *options],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(process)
        deadline = time.monotonic() + 60
        while ready and time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code in (200, 401):
                    return process
            except httpx.HTTPError:
                if process.poll() is not None:
                    break
                time.sleep(0.2)
        if ready:
            process.kill()
            raise AssertionError(f"server did not start: {process.stderr.read().decode()[-500:]}")
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
