"""Where and in which precision to run: CUDA, then Apple MPS, then CPU; bf16 where hardware has it."""

from __future__ import annotations

import os

import torch

from .errors import ImpastoError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ImpastoError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ImpastoError("--device cuda asked for, but this torch build sees no CUDA GPU")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ImpastoError("--device mps asked for, but Apple MPS is not available")
    return device


def has_fast_bf16(device: torch.device) -> bool:
    """bf16 convolutions are only a win on hardware with bf16 matrix units."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_amx_tile_supported())  # Intel AMX: ~4x faster VGG than fp32
    return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    if name == "auto" and os.environ.get("IMPASTO_PRECISION", "auto") != "auto":
        # What `auto` means can be pinned for a whole process (e.g. running the suite in both).
        name = os.environ["IMPASTO_PRECISION"]
        if name not in ("fp32", "bf16"):
            raise ImpastoError(f"IMPASTO_PRECISION must be auto, fp32 or bf16, not {name!r}")
    if name == "auto":
        return torch.bfloat16 if has_fast_bf16(device) else torch.float32
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    raise ImpastoError(f"unknown precision {name!r}; use auto, fp32 or bf16")


def prepare(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Move a network to its device and dtype; channels_last is the fast layout for bf16 convs."""
    module = module.to(device=device, dtype=dtype)
    if dtype == torch.bfloat16 or device.type == "cuda":
        module = module.to(memory_format=torch.channels_last)
    return module
