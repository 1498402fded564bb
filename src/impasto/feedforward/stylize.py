"""Stylizing with a trained network: one forward pass per image (Johnson et al.).

Runs on torch (bf16 where the hardware has fast bf16, the network kept loaded by the Engine), or on
OpenVINO or onnxruntime from an exported model. Images travel as numpy arrays (1, 3, H, W) in 0..1,
so the exported paths never import torch: a one-off command then starts in a fraction of a second.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

from ..core.config import AUTO_EXPORT_MAX_INPUTS, StylizeConfig
from ..core.errors import ImpastoError, OutputError
from ..core.files import check_writable, refuse_overwriting_inputs
from ..core.images import (
    SAVE_FORMATS,
    ImageInput,
    check_output_path,
    check_side,
    expand_inputs,
    from_planes,
    load_image,
    long_side_size,
    resize_long_side,
    save_image,
    to_array,
)
from ..core.memory import check_fits
from ..core.options import configure
from ..core.progress import ProgressCallback, Reporter
from ..core.results import Result, when_any
from .model_files import cached_transformer, find_model, named_style, parse_mix, read_metadata, style_weights
from .runners import OpenVinoRunner, TorchRunner, cached_runner, exported_runner

if TYPE_CHECKING:
    from ..core.cache import NetworkCache
    from ..nets.transformer import TransformerNet

__all__ = ["StylizeConfig", "stylize", "stylize_files"]



def _is_file_model(model) -> bool:
    return isinstance(model, (str, os.PathLike))


def choose_runtime(model, config: StylizeConfig, inputs: int, few_sizes: bool = False) -> str:
    """`auto`: OpenVINO on a CPU for a few images when the model's ONNX export is already cached
    (no torch start-up, and a faster pass than torch's and onnxruntime's), or for inputs of `few_sizes` (a clip's
    frames, a folder of one camera's photos: one compile per size serves them all, so the export
    is made now if it is not cached, once per model); torch otherwise: for batches of many sizes
    (a compile per size would cost more than torch's start-up), GPUs and network
    objects."""
    if config.runtime != "auto":
        return config.runtime
    if not _is_file_model(model):
        return "torch"
    cpu = on_cpu(config)
    if Path(model).suffix == ".onnx":
        return "openvino" if cpu else "onnx"  # onnxruntime's GPU providers, where it has them
    if not cpu:
        return "torch"
    if few_sizes:
        from .export import cached_onnx

        try:
            cached_onnx(model, "openvino")
        except ImpastoError:
            return "torch"  # no writable cache: the torch path works all the same
        return "openvino"
    if inputs > AUTO_EXPORT_MAX_INPUTS:
        return "torch"
    from .export import onnx_cache_path

    return "openvino" if onnx_cache_path(model, "openvino").is_file() else "torch"


def on_cpu(config: StylizeConfig) -> bool:
    """Whether a call runs on the CPU (asked for, or auto on a machine without an NVIDIA GPU)."""
    return config.device == "cpu" or (config.device == "auto" and not _has_nvidia_gpu())


def _has_nvidia_gpu() -> bool:
    return os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None


def selected_style(model, config: StylizeConfig) -> list[float] | None:
    """The style weights a model name (or --mix) selects in a several-style network; None for a
    one-style model. A network object takes `mix`, or holds one style."""
    mix = parse_mix(config.mix) if config.mix else None
    if not _is_file_model(model):
        if getattr(model, "styles", 1) == 1:
            if mix:
                raise ImpastoError("this network holds one style, so it cannot be mixed")
            return None
        if not mix:
            raise ImpastoError(f"this network holds {model.styles} styles: give their weights with mix")
        names = list(mix)  # a bare network has no names: its styles go by their numbers
        if any(not n.isdigit() or int(n) >= model.styles for n in names):
            raise ImpastoError(f"mix a bare network's styles by number, 0 to {model.styles - 1}")
        total = sum(mix.values())
        return [mix.get(str(i), 0.0) / total for i in range(model.styles)]
    if Path(model).suffix == ".onnx":
        return None  # OnnxRunner reads the style names the export carries
    return style_weights(model, read_metadata(find_model(model)), mix)


def _names_a_style(model) -> bool:
    """Whether `model` is one style (a shipped style's name, MODEL:STYLE), not a file of several."""
    if not _is_file_model(model) or Path(model).suffix == ".onnx":
        return False
    return named_style(model, read_metadata(find_model(model))) is not None


def make_runner(model, config: StylizeConfig, cache: "NetworkCache | None", inputs: int = 1, few_sizes: bool = False):
    if config.mask:
        raise ImpastoError("a mask's regions take paintings (--region-style COLOUR=PAINTING, any painting in "
                           "one pass), not a trained model")
    if config.style_blend is not None or config.style_scale != 1 or config.style_network is not None:
        raise ImpastoError("style_blend, style_scale and style_network (--style-blend, --style-scale, "
                           "--style-network) go with paintings given as the style (--style), not with a "
                           "trained model")
    if model is not None and not isinstance(model, (str, os.PathLike)) and not hasattr(model, "transform"):
        raise ImpastoError(f"the model must be a name, a file or a TransformerNet, not {type(model).__name__}")
    if model is not None and config.mix and _names_a_style(model):
        raise ImpastoError(f"--model {model} names one style and --mix others: give the mix alone, or --model "
                           "as the file that holds the styles to mix")
    if model is None:
        if not config.mix:
            raise ImpastoError("name a model, or the styles to mix with mix/--mix")
        model = next(iter(parse_mix(config.mix)))  # the file holding the mixed styles
    runner = _model_runner(model, config, cache, inputs, few_sizes)
    return runner if config.strength == 1 else PixelStrength(runner, config.strength)


class PixelStrength:
    """A style network's output over the photo's pixels at `strength` (the popular tools' slider;
    the arbitrary-style path blends in feature space instead)."""

    def __init__(self, runner, strength: float):
        self.runner, self.strength, self.runtime = runner, strength, runner.runtime

    def __call__(self, photo: np.ndarray) -> np.ndarray:
        if self.strength == 0:
            return photo.copy()
        return (1 - self.strength) * photo + self.strength * self.runner(photo)


def _model_runner(model, config: StylizeConfig, cache: "NetworkCache | None", inputs: int, few_sizes: bool):
    style = selected_style(model, config)
    runtime = choose_runtime(model, config, inputs, few_sizes)
    if runtime in ("onnx", "openvino"):
        if not _is_file_model(model):
            raise ImpastoError(f"the {runtime} runtime takes a model name or file, not a network object")
        if runtime == "openvino" and config.device not in ("auto", "cpu"):
            raise ImpastoError(f"the openvino runtime runs on the CPU, not on {config.device}: "
                               "use --runtime torch for it")
        if runtime == "onnx" and config.precision == "bf16":
            raise ImpastoError("the onnx runtime (onnxruntime) runs in fp32 only: use --runtime openvino "
                               "or torch for bf16")
        if Path(model).suffix == ".onnx":
            path, style, mix = Path(model), None, parse_mix(config.mix) if config.mix else None
        else:
            from .export import cached_onnx

            path, mix = cached_onnx(model, runtime), None  # exported once, then reused
        if cache is not None:  # kept with its compiled shapes for the engine's next call
            precision = cache.precision if config.precision == "auto" else config.precision  # the engine's
            return cached_runner(cache, runtime, path, style, mix, precision)
        return exported_runner(runtime, path, style, mix, config.precision)
    from ..core.cache import default_cache

    cache = cache or default_cache()
    placement = cache.placement(config.device, config.precision).for_transformer()
    if not _is_file_model(model):
        return TorchRunner(placement.module(model.eval(), cast=False), placement, style)
    runner = TorchRunner(cached_transformer(cache, model, placement)[0], placement, style)
    if config.runtime == "auto" and inputs <= AUTO_EXPORT_MAX_INPUTS and placement.device.type == "cpu":
        _export_for_next_time(model)
    return runner


def _export_for_next_time(model) -> None:
    """Runtime auto on a CPU: leave an ONNX export in the cache so the next command starts fast."""
    from .export import cached_onnx

    try:
        cached_onnx(model, "openvino")
    except ImpastoError:
        pass  # no writable cache: the torch path works all the same


# The style network's peak at inference, per output pixel: its full-size activations (in fp32; bf16
# takes about half). bench/RESULTS.md has the measured figures.
BYTES_PER_PIXEL = 320


def check_stylize_memory(size: tuple[int, int], max_memory: float | None, overridable: bool = True) -> None:
    """Refuse, before the work, an image whose pass would not fit in memory."""
    check_fits(size[0] * size[1] * BYTES_PER_PIXEL, max_memory,
               f"the image is {size[0]}x{size[1]}; stylize it smaller (--size)", overridable)


def _apply(runner, picture: Image.Image, config: StylizeConfig) -> tuple[Image.Image, float, np.ndarray]:
    if config.size:
        picture = resize_long_side(picture, config.size)
        check_side(picture.size, f"the image at size {config.size}", "use a larger size")
    check_stylize_memory(picture.size, config.max_memory)
    photo = to_array(picture)
    start = time.perf_counter()
    stylized = preserve_colour(runner(photo), photo, config.preserve_color)
    ms = (time.perf_counter() - start) * 1000
    return from_planes(stylized), ms, stylized


def preserve_colour(stylized: np.ndarray, photo: np.ndarray, mode: str) -> np.ndarray:
    """The network's output (1, 3, H, W) with the photo's colours kept (`mode` luminance or
    histogram; none leaves it as it is)."""
    if mode == "none":
        return stylized
    import torch

    from ..core.colour import keep_colours, match_colour_histogram

    out, source = torch.from_numpy(stylized), torch.from_numpy(photo)
    # For histogram the colour transfer runs the other way round from optimize's: the painting
    # is fixed at training time, so the output takes the photo's colour mean and covariance.
    out = keep_colours(out, source) if mode == "luminance" else match_colour_histogram(out, source).clamp(0, 1)
    return out.numpy()


def _event_image(array: np.ndarray):
    """Progress events carry tensors; without torch loaded (an exported model) they carry none."""
    return sys.modules["torch"].from_numpy(array) if "torch" in sys.modules else None


def stylize(image: ImageInput, model: "str | os.PathLike | TransformerNet | None" = None,
            config: StylizeConfig | None = None, progress: ProgressCallback | bool | None = None,
            cache: "NetworkCache | None" = None, runner=None, **options) -> Image.Image:
    """One image through a style network: same size as the input unless `size` is given.
    `model`: a shipped or user model's name (a style of a several-style model too), a .safetensors
    file, or a TransformerNet; with `mix` (NAME=W,...) it may be left out. From Python
    the engine's torch path is used unless `runtime="openvino"` or `"onnx"` is asked for; either
    way the engine keeps what it loaded (and OpenVINO's compiled sizes) for the next call.
    `runner` (arrays to arrays) stands in for the model (the arbitrary-style path's)."""
    config = configure(StylizeConfig, config, **options)
    if config.runtime == "auto":
        config = configure(StylizeConfig, config, runtime="torch")
    report = Reporter(progress, "stylize")
    if cache is None:
        from ..core.cache import default_cache

        cache = default_cache()
    runner = runner or make_runner(model, config, cache)
    picture, _, array = _apply(runner, load_image(image, "input image"), config)
    report(phase="done", iteration=1, iterations=1, image=_event_image(array))
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


def input_sizes(paths: Sequence[Path], long_side: int | None) -> set[tuple[int, int]]:
    """The sizes the network will see, from the files' headers (unreadable files left out: the
    batch reports them), after the --size rescale; orientation aside, as a size count is all it
    is for."""
    sizes = set()
    for path in paths:
        try:
            with Image.open(path) as image:
                size = image.size
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
        sizes.add(long_side_size(size, long_side) if long_side else size)
    return sizes


def stylize_files(inputs: Sequence[str], model: str | os.PathLike | None, output: str | os.PathLike,
                  config: StylizeConfig | None = None, progress: ProgressCallback | bool | None = None,
                  cache: "NetworkCache | None" = None, make=None, protected: Sequence = (),
                  **options) -> "StylizeResult":
    """Stylize many files. Every input is tried: one that cannot be read or written is reported in
    `failures` and the rest go on. A Progress event per image. `make(config, inputs, few_sizes)`
    stands in for the model's runner (the arbitrary-style path's), `protected` files besides the
    inputs that no output may replace (its paintings)."""
    config = configure(StylizeConfig, config, **options)
    report = Reporter(progress, "stylize")
    paths = expand_inputs(inputs)
    targets = output_paths(paths, output)
    refuse_overwriting_inputs(targets, [*paths, *protected])
    few_sizes = (len(paths) > AUTO_EXPORT_MAX_INPUTS
                 and len(input_sizes(paths, config.size)) <= OpenVinoRunner.KEEP_SHAPES)
    if make is not None:
        runner = make(config, len(paths), few_sizes)
    else:
        runner = make_runner(model, config, cache, inputs=len(paths), few_sizes=few_sizes)
    times, written, failures = [], [], []
    for number, (source, target) in enumerate(zip(paths, targets), start=1):
        try:
            picture, ms, array = _apply(runner, load_image(source, "input image", config.size), config)
            save_image(picture, target)
        except ImpastoError as exc:
            failures.append({"input": str(source), "error": str(exc)})
            report(phase="image", iteration=number, iterations=len(paths), item=str(source))
            continue
        times.append(ms)
        written.append(str(target))
        report(phase="image", iteration=number, iterations=len(paths), item=str(source),
               image=_event_image(array))
    return StylizeResult(written, statistics.median(times) if times else None, runner.runtime, failures)


@dataclass
class StylizeResult(Result):
    outputs: list[str]            # the files written
    ms_per_image: float | None    # median network time (None if nothing was stylized)
    runtime: str                  # what ran the network: "torch", "openvino" or "onnx"
    failures: list[dict] = when_any()  # {"input", "error"} per input that failed

    def line(self) -> str:
        if not self.outputs:
            return "nothing was written"
        folder = Path(self.outputs[0]).parent if len(self.outputs) > 1 else self.outputs[0]
        return f"wrote {len(self.outputs)} image(s) to {folder} ({self.ms_per_image:.0f} ms per image)"
