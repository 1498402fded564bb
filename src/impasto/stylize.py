"""Stylizing with a trained network: one forward pass per image (Johnson et al.).

Runs on torch (bf16 where the hardware has fast bf16) or on onnxruntime from an exported model.
"""

from __future__ import annotations

import glob
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .colour import PRESERVE_COLOR, keep_colours, match_colour_histogram
from .errors import ImpastoError
from .images import SAVE_FORMATS, check_output_path, load_image, resize_long_side, save_image, to_image, to_tensor
from .models import load_model
from .networks.transformer import TransformerNet
from .runtime import resolve_device, resolve_precision


@dataclass
class StylizeConfig:
    """Options of `impasto stylize`, with their defaults."""

    size: int | None = None          # rescale the long side first; None keeps the input's size
    preserve_color: str = "none"     # none | luminance | histogram
    runtime: str = "torch"           # torch | onnx
    device: str = "auto"
    precision: str = "auto"          # auto | fp32 | bf16
    progress: bool = True

    def validate(self) -> None:
        if self.preserve_color not in PRESERVE_COLOR:
            raise ImpastoError(f"--preserve-color must be one of {', '.join(PRESERVE_COLOR)}")
        if self.runtime not in ("torch", "onnx"):
            raise ImpastoError("--runtime must be torch or onnx")
        if self.size is not None and self.size < 16:
            raise ImpastoError("--size must be at least 16 pixels")


class TorchRunner:
    """A loaded network on its device; `__call__` maps (1, 3, H, W) in 0..1 to the same shape."""

    def __init__(self, model: str | os.PathLike | TransformerNet, device: str = "auto",
                 precision: str = "auto"):
        net = model if isinstance(model, TransformerNet) else load_model(model)[0]
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.net = net.eval().to(self.device)
        if self.dtype == torch.bfloat16 or self.device.type == "cuda":
            self.net = self.net.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = image.to(self.device)
        if self.dtype == torch.bfloat16 or self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            y = self.net(x)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return y.float().cpu()


class OnnxRunner:
    """An exported model under onnxruntime; pads to a multiple of 4 as TransformerNet.forward does."""

    def __init__(self, path: str | os.PathLike):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ImpastoError(f"ONNX model '{path}' does not exist (make one with `impasto export`)")
        try:
            self.session = ort.InferenceSession(str(path), providers=ort.get_available_providers())
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types
            raise ImpastoError(f"cannot load ONNX model '{path}': {str(exc).splitlines()[0]}") from None
        self.input = self.session.get_inputs()[0].name

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = image.numpy().astype(np.float32)
        height, width = x.shape[-2:]
        pad = ((0, 0), (0, 0), (0, (-height) % 4), (0, (-width) % 4))
        y = self.session.run(None, {self.input: np.pad(x, pad, mode="reflect")})[0]
        return torch.from_numpy(y[..., :height, :width].copy())


def make_runner(model: str | os.PathLike | TransformerNet, config: StylizeConfig):
    if config.runtime == "onnx":
        path = Path(model) if not isinstance(model, TransformerNet) else None
        if path is None or path.suffix != ".onnx":
            raise ImpastoError("--runtime onnx needs --model FILE.onnx (make one with `impasto export`)")
        return OnnxRunner(path)
    return TorchRunner(model, config.device, config.precision)


def _apply(runner, picture: Image.Image, config: StylizeConfig) -> tuple[Image.Image, float]:
    if config.size:
        picture = resize_long_side(picture, config.size)
    photo = to_tensor(picture)
    start = time.perf_counter()
    stylized = runner(photo)
    ms = (time.perf_counter() - start) * 1000
    if config.preserve_color == "luminance":
        stylized = keep_colours(stylized, photo)
    elif config.preserve_color == "histogram":
        # The network's painting is fixed at training time, so the colour transfer runs the other
        # way: the output takes the photo's colour mean and covariance.
        stylized = match_colour_histogram(stylized, photo).clamp(0, 1)
    return to_image(stylized), ms


def stylize(image: str | os.PathLike | Image.Image, model: str | os.PathLike | TransformerNet,
            config: StylizeConfig | None = None, **options) -> Image.Image:
    """One image through a style network: same size as the input unless `size` is given."""
    config = StylizeConfig(**{**(config.__dict__ if config else {}), **options})
    config.validate()
    return _apply(make_runner(model, config), load_image(image, "input image"), config)[0]


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files, folders (their images, recursively) and glob patterns -> image paths, in order."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.suffix.lower() in
                            {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
        elif path.exists():
            paths.append(path)
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise ImpastoError(f"no files match '{item}'")
            paths += matches
        else:
            raise ImpastoError(f"input image '{item}' does not exist")
    if not paths:
        raise ImpastoError("no input images found")
    return paths


def output_paths(inputs: list[Path], output: str | os.PathLike) -> list[Path]:
    """One input and OUT.png/.jpg: that file. Otherwise OUT is a folder (made if missing) of PNGs."""
    output = Path(output)
    if output.suffix.lower() in SAVE_FORMATS:
        if len(inputs) > 1:
            raise ImpastoError(f"{len(inputs)} inputs need -o to name a folder, not '{output}'")
        return [check_output_path(output)]
    if output.exists() and not output.is_dir():
        raise ImpastoError(f"output '{output}' exists and is not a folder")
    if not output.parent.is_dir() and str(output.parent):
        raise ImpastoError(f"output folder '{output.parent}' does not exist")
    output.mkdir(exist_ok=True)
    names, paths = set(), []
    for path in inputs:
        name, n = f"{path.stem}.png", 1
        while name in names:  # same stem in two folders
            n += 1
            name = f"{path.stem}-{n}.png"
        names.add(name)
        paths.append(output / name)
    return paths


def stylize_files(inputs: Sequence[str], model: str | os.PathLike, output: str | os.PathLike,
                  config: StylizeConfig | None = None, **options) -> dict:
    """Stylize many files; returns {"outputs": [...], "ms_per_image": median network time}."""
    config = StylizeConfig(**{**(config.__dict__ if config else {}), **options})
    config.validate()
    paths = expand_inputs(inputs)
    targets = output_paths(paths, output)
    runner = make_runner(model, config)
    times, written = [], []
    for source, target in tqdm(list(zip(paths, targets)), desc="stylize", unit="img",
                               disable=not config.progress or len(paths) == 1):
        picture, ms = _apply(runner, load_image(source, "input image"), config)
        save_image(picture, target)
        times.append(ms)
        written.append(str(target))
    return {"outputs": written, "ms_per_image": statistics.median(times)}
