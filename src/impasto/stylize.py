"""Stylizing with a trained network: one forward pass per image (Johnson et al.).

Runs on torch (bf16 where the hardware has fast bf16) or on onnxruntime from an exported model.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from PIL import Image

from .colour import keep_colours, match_colour_histogram
from .config import StylizeConfig
from .files import check_writable
from .errors import ImpastoError, OutputError
from .images import SAVE_FORMATS, ImageInput, check_output_path, check_side, expand_inputs, load_image, resize_long_side, save_image, to_image, to_tensor
from .networks.transformer import TransformerNet
from .options import configure
from .progress import ProgressCallback, Reporter
from .runtime import Placement

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["StylizeConfig", "stylize", "stylize_files"]


class TorchRunner:
    """A loaded network on its placement; `__call__` maps (1, 3, H, W) in 0..1 to the same shape.
    A network cast to the placement's dtype runs in it directly (bf16 throughout: ~1.3x faster than
    autocast's casts around every norm, 0.5/255 from fp32 on average); one kept in fp32 (a network
    handed in by the caller, still training perhaps) runs under autocast."""

    def __init__(self, net: TransformerNet, placement: Placement):
        self.net, self.placement = net, placement
        self.cast = next(net.parameters()).dtype == placement.dtype

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = self.placement.tensor(image)
        if self.cast:
            y = self.net(x.to(self.placement.dtype))
        else:
            with self.placement.autocast():
                y = self.net(x)
        self.placement.synchronize()
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


def make_runner(model: str | os.PathLike | TransformerNet, config: StylizeConfig, engine: "Engine"):
    if config.runtime == "onnx":
        if isinstance(model, TransformerNet):
            raise ImpastoError("the onnx runtime takes a model name or file, not a network object")
        if Path(model).suffix == ".onnx":
            return OnnxRunner(Path(model))
        from .export import cached_onnx

        return OnnxRunner(cached_onnx(model))  # exported once, then reused
    placement = engine.placement(config.device, config.precision)
    if isinstance(model, TransformerNet):
        return TorchRunner(placement.module(model.eval(), cast=False), placement)
    return TorchRunner(engine.transformer(model, placement)[0], placement)


def _apply(runner, picture: Image.Image, config: StylizeConfig) -> tuple[Image.Image, float]:
    if config.size:
        picture = resize_long_side(picture, config.size)
        check_side(picture.size, f"the image at size {config.size}", "use a larger size")
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


def stylize(image: ImageInput, model: str | os.PathLike | TransformerNet,
            config: StylizeConfig | None = None, progress: ProgressCallback | bool | None = None,
            engine: "Engine | None" = None, **options) -> Image.Image:
    """One image through a style network: same size as the input unless `size` is given.
    `model`: a shipped or user model's name, a .safetensors file, or a TransformerNet."""
    from .engine import default_engine

    config = configure(StylizeConfig, config, **options)
    report = Reporter(progress, "stylize")
    runner = make_runner(model, config, engine or default_engine())
    picture, _ = _apply(runner, load_image(image, "input image"), config)
    report(phase="done", iteration=1, iterations=1, image=to_tensor(picture))
    return picture


def output_paths(inputs: list[Path], output: str | os.PathLike) -> list[Path]:
    """One input and OUT.png/.jpg: that file. Otherwise OUT is a folder (made if missing) of PNGs."""
    output = Path(output)
    if output.suffix.lower() in SAVE_FORMATS:
        if len(inputs) > 1:
            raise ImpastoError(f"{len(inputs)} inputs need -o to name a folder, not '{output}'")
        return [check_output_path(output)]
    if output.exists() and not output.is_dir():
        raise ImpastoError(f"output '{output}' exists and is not a folder")
    check_writable(output.parent)
    try:
        output.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot make output folder '{output}': {exc.strerror or exc}") from None
    check_writable(output)
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
                  config: StylizeConfig | None = None, progress: ProgressCallback | bool | None = None,
                  engine: "Engine | None" = None, **options) -> dict:
    """Stylize many files. Every input is tried: one that cannot be read or written is reported in
    "failures" and the rest go on. Returns {"outputs": [...], "ms_per_image": median network time
    (None if nothing was stylized)}, plus "failures": [{"input", "error"}] where any failed; a
    Progress event per image."""
    from .engine import default_engine

    config = configure(StylizeConfig, config, **options)
    report = Reporter(progress, "stylize")
    paths = expand_inputs(inputs)
    targets = output_paths(paths, output)
    runner = make_runner(model, config, engine or default_engine())
    times, written, failures = [], [], []
    for number, (source, target) in enumerate(zip(paths, targets), start=1):
        try:
            picture, ms = _apply(runner, load_image(source, "input image"), config)
            save_image(picture, target)
        except ImpastoError as exc:
            failures.append({"input": str(source), "error": str(exc)})
            report(phase="image", iteration=number, iterations=len(paths), item=str(source))
            continue
        times.append(ms)
        written.append(str(target))
        report(phase="image", iteration=number, iterations=len(paths), item=str(source),
               image=to_tensor(picture))
    summary = {"outputs": written, "ms_per_image": statistics.median(times) if times else None}
    if failures:
        summary["failures"] = failures
    return summary
