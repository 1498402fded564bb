import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch
from PIL import Image

from impasto.feedforward.model_files import save_model
from impasto.nets.transformer import TransformerNet

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session", autouse=True)
def weights_cache(tmp_path_factory):
    """A fresh weights cache per test session, so every run converts and verifies the VGG16 weights."""
    cache = tmp_path_factory.mktemp("cache")
    os.environ["IMPASTO_CACHE"] = str(cache)
    os.environ.setdefault("CI", "1")  # no progress bars in test output
    return cache


def _small(path: Path, size: int, out: Path) -> Path:
    image = Image.open(path).convert("RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    image.save(out)
    return out


@pytest.fixture(scope="session")
def content_path(tmp_path_factory):
    return _small(EXAMPLES / "tubingen.jpg", 64, tmp_path_factory.mktemp("img") / "content.png")


@pytest.fixture(scope="session")
def style_path(tmp_path_factory):
    return _small(EXAMPLES / "starry_night.jpg", 64, tmp_path_factory.mktemp("img") / "style.png")


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: tests that compare two training runs bit for bit need it.
    On the Intel AMX machine fp32 training on two threads differs in the last bits between two
    identical runs (a reduction whose order depends on the threads)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """A folder of six small training photos (crops of the Tübingen photo)."""
    folder = tmp_path_factory.mktemp("photos")
    source = Image.open(EXAMPLES / "tubingen.jpg").convert("RGB")
    for i in range(6):
        source.crop((i * 80, i * 40, i * 80 + 400, i * 40 + 300)).resize((48, 36)).save(folder / f"p{i}.jpg")
    return folder


@pytest.fixture(scope="session")
def photos_with_junk(tmp_path_factory):
    """A folder of training photos: five small crops, one in a subfolder, and two files that are
    not images (training skips them)."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "nested").mkdir()
    source = Image.open(EXAMPLES / "tubingen.jpg").convert("RGB")
    for i in range(5):
        crop = source.crop((i * 100, i * 50, i * 100 + 400, i * 50 + 300)).resize((64, 48))
        crop.save(folder / ("nested" if i % 2 else ".") / f"photo{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """A tiny one-style network (width 0.25, untrained) with non-trivial norm parameters."""
    torch.manual_seed(0)
    net = TransformerNet(width=0.25)
    with torch.no_grad():  # non-trivial norm parameters, as after training
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2) if module.bias.requires_grad else None
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_model(net, path, {"style_name": "tiny"})


# --- a real web server on loopback, for tests/serve and tests/cluster ---------------------------

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


@pytest.fixture
def wait_job():
    """wait_job(client, job_id) -> the job once it has finished; client: a TestClient, or an
    httpx.Client with the server's base_url."""
    def wait(client, job_id: str, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = client.get(f"/api/jobs/{job_id}").json()
            if job["status"] in ("done", "failed", "cancelled"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} still {job['status']}")
    return wait


@pytest.fixture
def train_killed():
    """train_killed(args, output) -> the iteration its checkpoint reached: `impasto train ARGS -o
    OUTPUT --iterations 400` run on one thread and SIGKILLed once a checkpoint at step 4 or later
    is on disk."""
    import signal

    def run(args: list[str], output: Path) -> int:
        proc = subprocess.Popen([sys.executable, "-m", "impasto.cli", *args, "--iterations", "400", "-o", str(output)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        ckpt = output.with_suffix(".ckpt")
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if ckpt.exists() and torch.load(ckpt, weights_only=False)["iteration"] >= 4:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = torch.load(ckpt, weights_only=False)["iteration"]
        assert 4 <= done < 400
        return done
    return run
