"""Style model files: one safetensors file per style, weights plus metadata.

Metadata (all strings): format, width, norm, upsample, style_name, style_sha256, train_args (JSON),
iterations, seconds, final_losses (JSON), data_images. A model is named either by a path or by the
file stem of a shipped model (impasto/pretrained/) or of one in the user folder
($IMPASTO_MODELS, else ~/.local/share/impasto/models).
"""

from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

from .errors import ImpastoError
from .files import atomic_path

if TYPE_CHECKING:
    from .networks.transformer import TransformerNet

FORMAT = "impasto-transformer/1"
SHIPPED = Path(__file__).resolve().parent / "pretrained"


def user_models_dir() -> Path:
    if os.environ.get("IMPASTO_MODELS"):
        return Path(os.environ["IMPASTO_MODELS"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "impasto" / "models"


def save_model(net: "TransformerNet", path: str | os.PathLike, metadata: dict[str, str],
               half: bool = False) -> Path:
    """Write weights (fp16 if `half`) and metadata atomically."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in net.state_dict().items()}
    meta = {key: str(value) for key, value in metadata.items()}
    meta.update(format=FORMAT, **{k: str(v) for k, v in net.config.items()})
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def find_model(name: str | os.PathLike) -> Path:
    """A path, or the name of a shipped or user model."""
    path = Path(name)
    if path.is_file():
        return path
    for folder in (SHIPPED, user_models_dir()):
        candidate = folder / f"{name}.safetensors"
        if candidate.is_file():
            return candidate
    known = ", ".join(m["name"] for m in list_models()) or "none installed"
    raise ImpastoError(f"no model file or model named '{name}' (known models: {known})")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:  # metadata only: no torch needed
            meta = handle.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - unreadable or not safetensors at all
        raise ImpastoError(f"'{path}' is not a readable model file ({str(exc).splitlines()[0]})") from None
    if meta.get("format") != FORMAT:
        raise ImpastoError(f"'{path}' is not an impasto style model")
    return meta


def load_model(name: str | os.PathLike) -> tuple["TransformerNet", dict[str, str]]:
    """(network in eval mode, fp32, on the CPU; its metadata)."""
    from safetensors.torch import load_file

    from .networks.transformer import TransformerNet

    path = find_model(name)
    meta = read_metadata(path)
    try:
        width = float(meta["width"])
        if not 0 < width <= 16:
            raise ValueError
        net = TransformerNet(width, meta["norm"], meta["upsample"])
    except KeyError as exc:
        raise ImpastoError(f"model '{path}' lacks its {exc.args[0]!r} metadata") from None
    except (ValueError, ImpastoError):
        raise ImpastoError(f"model '{path}' has malformed metadata (width {meta.get('width')!r}, "
                           f"norm {meta.get('norm')!r}, upsample {meta.get('upsample')!r})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ImpastoError(f"model '{path}' does not match its own metadata ({str(exc).splitlines()[0]})") from None
    return net.eval(), meta


def list_models() -> list[dict[str, str]]:
    """Shipped models, then the user's, each with its name, path and training summary."""
    found = []
    for source, folder in (("shipped", SHIPPED), ("user", user_models_dir())):
        for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
            try:
                meta = read_metadata(path)
            except ImpastoError:
                continue
            found.append({"name": path.stem, "source": source, "path": str(path),
                          "style": meta.get("style_name", "?"), "iterations": meta.get("iterations", "?"),
                          "width": meta.get("width", "?"), "norm": meta.get("norm", "?")})
    return found
