"""The arbitrary-style network: P (prediction.py) and the transformation network it drives, in one
model file (`pretrained/arbitrary.safetensors`, format impasto-arbitrary/1)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..core.errors import ImpastoError, first_line
from ..core.files import atomic_path
from ..nets.transformer import ConditionalInstanceNorm, TransformerNet
from . import SHIPPED
from .prediction import EMBEDDING, StylePrediction

FORMAT = "impasto-arbitrary/1"


class ArbitraryNet(nn.Module):
    """`prediction` (statistics -> S) and `transformer` (photo, (S, 1) -> stylized)."""

    def __init__(self, width: float = 0.5, embedding: int = EMBEDDING):
        super().__init__()
        self.prediction = StylePrediction(embedding)
        self.transformer = TransformerNet(width, "conditional", "nearest", embedding + 1)
        self.config = {"width": width, "embedding": embedding}


def from_base(base: TransformerNet, embedding: int = EMBEDDING, seed: int = 0) -> ArbitraryNet:
    """A network whose convolutions are `base`'s (a several-style network) and whose norm tables
    start at its styles: the shared row at their mean, the first rows along each style's offset from
    it, so that the base's paintings are reachable embeddings from the first step."""
    if base.styles < 2 or base.styles > embedding:
        raise ImpastoError(f"the base network must hold 2 to {embedding} styles, not {base.styles}")
    torch.manual_seed(seed)
    net = ArbitraryNet(base.config["width"], embedding)
    own = net.transformer.state_dict()
    for key, value in base.state_dict().items():
        if own[key].shape == value.shape:
            own[key] = value.clone()
    net.transformer.load_state_dict(own)
    norms = zip((m for m in base.modules() if isinstance(m, ConditionalInstanceNorm)),
                (m for m in net.transformer.modules() if isinstance(m, ConditionalInstanceNorm)))
    with torch.no_grad():
        for old, new in norms:
            for table, rows in ((new.weight, old.weight), (new.bias, old.bias)):
                mean = rows.mean(0)
                # the other rows small but not zero: a zero row and S = 0 would hold each other at zero
                table.normal_(0, 0.01)
                table[:rows.shape[0]] = rows - mean
                table[-1] = mean
    return net


def save_arbitrary(net: ArbitraryNet, path: str | os.PathLike, metadata: dict[str, str], half: bool = False) -> Path:
    """Weights (fp16 with `half`, as the shipped files are) and metadata, atomically."""
    from safetensors.torch import save_file

    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in net.state_dict().items()}
    meta = {**{k: str(v) for k, v in metadata.items()}, "format": FORMAT,
            **{k: str(v) for k, v in net.config.items()}}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return Path(path)


def load_arbitrary(path: str | os.PathLike | None = None) -> tuple[ArbitraryNet, dict[str, str]]:
    """(network in eval mode, fp32, on the CPU; its metadata); the shipped one by default."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path) if path is not None else SHIPPED
    if not path.is_file():
        raise ImpastoError(f"arbitrary-style network '{path}' not found")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        state = {k: v.float() for k, v in load_file(str(path)).items()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds
        raise ImpastoError(f"'{path}' is not a readable model file ({first_line(exc)[:120]})") from None
    if meta.get("format") != FORMAT:
        raise ImpastoError(f"'{path}' is not an arbitrary-style network (format {meta.get('format')!r})")
    try:
        net = ArbitraryNet(float(meta["width"]), int(meta["embedding"]))
        net.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, ImpastoError) as exc:
        raise ImpastoError(f"model '{path}' does not match its own metadata ({first_line(exc)[:120]})") from None
    if not all(v.isfinite().all() for v in state.values()):
        raise ImpastoError(f"model '{path}' holds weights that are not finite")
    return net.eval(), meta
