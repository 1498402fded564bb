"""Gatys et al.'s Figure 1: what each layer's content or style representation keeps.

From white noise, synthesise an image that matches only the content representation of IMAGE at a
layer (feature inversion), or only its style representation over a set of layers (texture
synthesis). `reconstruction_grid` renders the paper's standard sequence side by side.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from .errors import ImpastoError
from .images import check_output_path, load_image, resize_long_side, save_image, to_image, to_tensor
from .networks import load_vgg
from .optimize import (ImageInput, OptimizeConfig, OptimizeResult, Targets, _optimize_to_targets, _result,
                       content_targets, initial_image, style_targets)
from .runtime import prepare, resolve_device, resolve_precision

CONTENT_SEQUENCE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
STYLE_SEQUENCE = [CONTENT_SEQUENCE[: i + 1] for i in range(len(CONTENT_SEQUENCE))]


@dataclass
class ReconstructConfig(OptimizeConfig):
    """Options of `impasto reconstruct`: those of optimize, smaller by default (one run per layer)."""

    size: int = 256
    iterations: int = 300
    tv_weight: float = 0.0   # the paper's reconstructions carry no image prior


def reconstruct(image: ImageInput, target: str, layers: list[str],
                config: OptimizeConfig | None = None, output: str | os.PathLike | None = None,
                **options) -> OptimizeResult:
    """Synthesise from noise an image matching only IMAGE's content (or style) at `layers`."""
    if target not in ("content", "style"):
        raise ImpastoError(f"--target must be content or style, not {target!r}")
    if not layers:
        raise ImpastoError("give at least one layer, e.g. --layers relu4_2")
    config = dataclasses.replace(config or ReconstructConfig(), **options)
    if target == "content":
        config = dataclasses.replace(config, content_layers=tuple(layers), content_weight=1.0,
                                     style_weight=0.0)
    else:
        config = dataclasses.replace(config, style_layers=tuple(layers), style_weight=1.0,
                                     content_weight=0.0, style_layer_weights=None)
    config.validate()
    if output is not None:
        output = check_output_path(output)

    start = time.perf_counter()
    device = resolve_device(config.device)
    dtype = resolve_precision(config.precision, device)
    picture = resize_long_side(load_image(image, "image"), config.size)
    tensor = to_tensor(picture).to(device)
    vgg = prepare(load_vgg(list(layers), config.network, config.pooling, config.weights), device, dtype)
    if target == "content":
        targets = Targets(content_targets(vgg, tensor, layers), {}, {})
    else:
        targets = Targets({}, style_targets(vgg, [tensor], [1.0], layers),
                          {layer: 1.0 / len(layers) for layer in layers})
    init = "noise" if config.init in ("content", "style") else config.init  # never start at the answer
    stage = _optimize_to_targets(vgg, initial_image(init, tensor, tensor, config.seed), targets,
                                 config, output)
    result = _result(stage, to_image(stage.image), config.iterations, stage.history)
    result.seconds = time.perf_counter() - start
    if output is not None:
        save_image(result.image, output)
    return result


def reconstruction_grid(image: ImageInput, target: str, config: OptimizeConfig | None = None,
                        output: str | os.PathLike | None = None, **options) -> Image.Image:
    """The paper's sequence (content: relu1_1 ... relu5_1; style: {relu1_1} ... {relu1_1..relu5_1})
    beside the input, in one labelled image."""
    if output is not None:
        output = check_output_path(output)
    config = dataclasses.replace(config or ReconstructConfig(), **options)
    source = resize_long_side(load_image(image, "image"), config.size)
    tiles = [("input", source)]
    sequence = CONTENT_SEQUENCE if target == "content" else STYLE_SEQUENCE
    for layers in sequence:
        layers = [layers] if isinstance(layers, str) else layers
        result = reconstruct(source, target, layers, config)
        label = layers[0] if target == "content" else (
            layers[0] if len(layers) == 1 else f"{layers[0]} … {layers[-1]}")
        tiles.append((label, result.image))
    grid = label_grid(tiles, title=f"{target} reconstructions ({config.network}, "
                                   f"{config.iterations} {config.optimizer} iterations)")
    if output is not None:
        save_image(grid, output)
    return grid


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
