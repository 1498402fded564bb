import os
from pathlib import Path

import pytest
from PIL import Image

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
