"""Gatys et al.'s Figure 1: what each layer's content or style representation keeps.

From white noise, synthesise an image that matches only the content representation of IMAGE at a
layer (feature inversion), or only its style representation over a set of layers (texture
synthesis). `reconstruction_grid` renders the paper's standard sequence side by side.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from ..core.config import OptimizeConfig, ReconstructConfig, loss_weights
from ..core.errors import OptionError
from ..core.files import refuse_overwriting_inputs
from ..core.images import (
    ImageInput,
    check_output_path,
    check_side,
    load_image,
    resize_long_side,
    save_image,
    to_image,
    to_tensor,
)
from ..core.options import configure
from ..core.progress import ProgressCallback, Reporter, chain
from ..core.results import Result, hidden
from ..losses.objective import Objective, Targets, content_targets, style_targets
from ..nets import cached_vgg
from .memory_estimate import check_optimize
from .optimize import OptimizeResult, initial_image, save_every
from .pixels import optimize_stage

if TYPE_CHECKING:
    from ..core.cache import NetworkCache

__all__ = ["ReconstructConfig", "reconstruct", "reconstruction_grid"]

CONTENT_SEQUENCE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
STYLE_SEQUENCE = [CONTENT_SEQUENCE[: i + 1] for i in range(len(CONTENT_SEQUENCE))]


def reconstruct(image: ImageInput, target: str, layers: list[str] | str,
                config: OptimizeConfig | None = None, output: str | os.PathLike | None = None,
                progress: ProgressCallback | bool | None = None, cache: "NetworkCache | None" = None,
                **options) -> OptimizeResult:
    """Synthesise from noise an image matching only IMAGE's content (or style) at `layers`."""
    from ..core.cache import default_cache

    if target not in ("content", "style"):
        raise OptionError("target", f"{{name}} must be content or style, not {target!r}")
    layers = [layers] if isinstance(layers, str) else list(layers)
    if not layers:
        raise OptionError("layers", "give at least one layer in {name}, e.g. relu4_2")
    if target == "content":
        options.update(content_layers=tuple(layers), content_weight=1.0, style_weight=0.0)
    else:
        options.update(style_layers=tuple(layers), style_weight=1.0, content_weight=0.0,
                       style_layer_weights=None)
    config = configure(type(config) if config is not None else ReconstructConfig, config, **options)
    if output is not None:
        output = check_output_path(output)
        refuse_overwriting_inputs([output], [image])
    cache = cache or default_cache()
    report = Reporter(chain(progress, save_every(output, config.save_every)
                            if output is not None and config.save_every else None), "reconstruct")
    placement = cache.placement(config.device, config.precision)
    source = load_image(image, "image")
    check_optimize(config, source.size, [source.size] if target == "style" else [],
                   placement.dtype.itemsize)
    picture = resize_long_side(source, config.size)
    check_side(picture.size, f"the image at size {config.size}", "use a larger size")
    tensor = to_tensor(picture).to(placement.device)
    vgg = cached_vgg(cache, layers, config.network, config.pooling, config.weights, placement)
    if target == "content":
        targets = Targets(content_targets(vgg, tensor, layers), {}, {})
    else:
        targets = Targets({}, style_targets(vgg, [tensor], [1.0], layers),
                          {layer: 1.0 / len(layers) for layer in layers})
    objective = Objective(vgg, targets, loss_weights(config))
    init = "noise" if config.init in ("content", "style") else config.init  # never start at the answer
    stage = optimize_stage(objective, initial_image(init, tensor, tensor, config.seed), config.iterations,
                           config.optimizer, config.learning_rate, config.range_weight,
                           lambda i, x, losses: report(iteration=i, iterations=config.iterations,
                                                       losses=losses, image=x))
    result = OptimizeResult.from_stage(stage, to_image(stage.image), config.iterations, stage.history,
                                       time.perf_counter() - report.start)
    report(phase="done", iteration=config.iterations, iterations=config.iterations,
           losses=dict(stage.final), image=stage.image)
    if output is not None:
        save_image(result.image, output)
        result.output = str(output)
    return result


def reconstruction_grid(image: ImageInput, target: str, config: OptimizeConfig | None = None,
                        output: str | os.PathLike | None = None,
                        progress: ProgressCallback | bool | None = None, cache: "NetworkCache | None" = None,
                        **options) -> "GridResult":
    """The paper's sequence (content: relu1_1 ... relu5_1; style: {relu1_1} ... {relu1_1..relu5_1})
    beside the input, in one labelled image. Progress events come from each reconstruction."""
    if output is not None:
        output = check_output_path(output)
        refuse_overwriting_inputs([output], [image])
    config = configure(type(config) if config is not None else ReconstructConfig, config, **options)
    source = resize_long_side(load_image(image, "image"), config.size)
    tiles = [("input", source)]
    sequence = CONTENT_SEQUENCE if target == "content" else STYLE_SEQUENCE
    for layers in sequence:
        layers = [layers] if isinstance(layers, str) else layers
        result = reconstruct(source, target, layers, config, progress=progress, cache=cache)
        label = layers[0] if target == "content" else (
            layers[0] if len(layers) == 1 else f"{layers[0]} … {layers[-1]}")
        tiles.append((label, result.image))
    grid = label_grid(tiles, title=f"{target} reconstructions ({config.network}, "
                                   f"{config.iterations} {config.optimizer} iterations)")
    if output is not None:
        save_image(grid, output)
    return GridResult(grid, None if output is None else str(output), grid.width, grid.height)


@dataclass
class GridResult(Result):
    image: Image.Image = hidden()
    output: str | None = None
    width: int = 0
    height: int = 0

    def line(self) -> str:
        return f"wrote {self.output} ({self.width}x{self.height})"


def label_grid(tiles: list[tuple[str, Image.Image]], title: str = "") -> Image.Image:
    """Images side by side, each with its label underneath, and an optional title above."""
    width, height = tiles[0][1].size
    font = ImageFont.load_default(size=max(11, width // 16))
    pad, label_h = 6, max(16, width // 10)
    title_h = label_h if title else 0
    grid = Image.new("RGB", (len(tiles) * (width + pad) + pad, title_h + height + label_h + pad),
                     "white")
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((pad, pad // 2), title, fill="black", font=font)
    for i, (label, tile) in enumerate(tiles):
        x = pad + i * (width + pad)
        grid.paste(tile.resize((width, height)), (x, title_h))
        text_w = draw.textlength(label, font=font)
        draw.text((x + (width - text_w) / 2, title_h + height + 2), label, fill="black", font=font)
    return grid
