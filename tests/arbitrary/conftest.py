from pathlib import Path

import pytest
import torch
from PIL import Image

from impasto.arbitrary.network import from_base, save_arbitrary
from impasto.feedforward.model_files import save_model
from impasto.nets.transformer import TransformerNet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A several-style network of the smallest width, as the arbitrary network's base."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("base") / "base.safetensors"
    save_model(TransformerNet(0.125, "conditional", "nearest", 2), path,
               {"style_names": '["a", "b"]', "iterations": "0"})
    return path


@pytest.fixture(scope="session")
def network(tmp_path_factory, tiny_base) -> Path:
    """A tiny, untrained arbitrary-style network: behaviour, not quality."""
    from impasto.feedforward.model_files import load_model

    base, _ = load_model(tiny_base)
    net = from_base(base, seed=1)
    with torch.no_grad():  # untrained, every painting would give the base's mean style (S = 0)
        for p in net.transformer.parameters():
            if p.ndim == 2:
                p[:-1].normal_(0, 0.05)
        net.prediction.mlp[2].weight.normal_(0, 0.05)
    path = tmp_path_factory.mktemp("arbitrary") / "tiny.safetensors"
    save_arbitrary(net, path, {"iterations": "0"})
    return path


@pytest.fixture(scope="session")
def paintings(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("paintings")
    out = []
    for name in ("starry_night", "tubingen"):
        image = Image.open(EXAMPLES / f"{name}.jpg").convert("RGB")
        image.thumbnail((64, 64))
        out.append(folder / f"{name}.png")
        image.save(out[-1])
    return out
