"""Where and in which precision networks run: written once, used by every command.

Device: CUDA, then Apple MPS, then CPU. Precision: bf16 where the hardware has fast bf16, with
channels_last, the fast layout for bf16 convolutions (and for any convolution on CUDA).
"""

from __future__ import annotations

import ctypes
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

import torch

from .config import pinned_precision
from .errors import ImpastoError, OptionError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise OptionError("device", f"unknown {{name}} {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ImpastoError("device cuda asked for, but this torch build sees no CUDA GPU")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ImpastoError("device mps asked for, but Apple MPS is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise OptionError("device", f"unsupported {{name}} {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


_allocator_tuned = False


def keep_freed_memory() -> None:
    """Let glibc's malloc reuse freed feature maps instead of handing them back to the OS.

    By default malloc serves blocks over 128 KiB with a fresh mmap until its adaptive threshold
    catches up, and trims the heap after every large free, so each pass page-faults its buffers
    in again, a noticeable share of each optimization iteration. With
    the threshold fixed at its 32 MiB maximum and no trimming below 1 GiB, the heap is reused; blocks
    over 32 MiB stay mmaps, which keeps peak memory where it was (taking every block from the heap
    was as fast but fragmented it). Once per process; a no-op off glibc."""
    global _allocator_tuned
    if _allocator_tuned or not sys.platform.startswith("linux"):
        return
    _allocator_tuned = True
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 1 << 30)


def has_fast_bf16(device: torch.device) -> bool:
    """bf16 convolutions are only a win where the hardware computes bf16 natively: Intel AMX,
    AVX512-BF16 (AMD Zen 4), bf16 GPUs."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    name = pinned_precision(name)
    if name == "auto":
        return torch.bfloat16 if has_fast_bf16(device) else torch.float32
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    raise OptionError("precision", f"unknown {{name}} {name!r}; use auto, fp32 or bf16")


@dataclass(frozen=True)
class Placement:
    """A device and a compute dtype, and what follows from them: layout and autocast."""

    device: torch.device
    dtype: torch.dtype
    layout: str = "auto"   # auto (channels_last for bf16 and GPUs), channels_last or contiguous

    @classmethod
    def resolve(cls, device: str = "auto", precision: str = "auto") -> "Placement":
        where = resolve_device(device)
        if where.type == "cpu":
            keep_freed_memory()
        return cls(where, resolve_precision(precision, where))

    @property
    def channels_last(self) -> bool:
        if self.layout != "auto":
            return self.layout == "channels_last"
        return self.dtype == torch.bfloat16 or self.device.type == "cuda"

    def for_transformer(self) -> "Placement":
        """The placement for running a style network: channels_last at either precision, since every
        layer of its inference path keeps that layout."""
        return replace(self, layout="channels_last")

    def module(self, module: torch.nn.Module, cast: bool = True) -> torch.nn.Module:
        """Move a network here. cast=False keeps fp32 parameters (trained networks: autocast runs
        their convolutions in bf16 while Adam updates fp32 weights)."""
        module = module.to(device=self.device, dtype=self.dtype if cast else None)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        return module

    def tensor(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch on this device, in the network's layout (dtype unchanged)."""
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
