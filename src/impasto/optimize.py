"""Style transfer by image optimization (Gatys, Ecker & Bethge, CVPR 2016).

The generated image x starts from white noise (or the photo) and its pixels follow the gradient of
    L_total = alpha * L_content / (N_l M_l) + beta * L_style + lambda_TV * L_TV
with the terms of `impasto.losses`. Content is matched at relu4_2, style at relu1_1 ... relu5_1.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from tqdm.auto import tqdm

from . import losses
from .colour import PRESERVE_COLOR, keep_colours, luminance, match_colour_histogram, match_luminance
from .errors import ImpastoError
from .images import check_output_path, load_image, resize_long_side, save_image, to_image, to_tensor
from .masks import load_guides, region_pairs
from .tiling import feather, tiled_gram, tiles
from .networks import check_layers, load_vgg
from .runtime import prepare, resolve_device, resolve_precision

log = logging.getLogger("impasto")

AUTO_SCALE_FROM = 512  # outputs above this long side are optimized coarse-to-fine by default

ImageInput = str | os.PathLike | Image.Image


@dataclass
class OptimizeConfig:
    """Every option of `impasto optimize`, with its default (the CLI reads these defaults)."""

    iterations: int = 500
    optimizer: str = "lbfgs"           # lbfgs | adam
    learning_rate: float = 0.02        # Adam only, in units of the 0..1 pixel range
    init: str = "noise"                # noise | content | style | path to an image
    seed: int = 0
    content_weight: float = 1.0        # alpha
    style_weight: float = 3e-4         # beta
    tv_weight: float = 1e4             # lambda_TV: smooths the last pixel noise from white-noise starts
    range_weight: float = 10.0         # pixel-range penalty, relative to the initial loss; 0: off
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    style_layer_weights: tuple[float, ...] | None = None  # w_l; default equal, normalised to sum 1
    style_blend: tuple[float, ...] | None = None          # one per style image, normalised to sum 1
    style_scale: float = 1.0           # style image long side = style_scale * size
    size: int = 512                    # long side of the output, pixels
    pooling: str = "max"               # max | avg (Gatys et al. prefer avg for synthesis)
    network: str = "vgg16"             # vgg16 | vgg19
    weights: str | None = None         # local weights file instead of the default download/cache
    device: str = "auto"
    precision: str = "auto"            # auto | fp32 | bf16
    save_every: int = 0                # write intermediate images every N iterations (needs output)
    progress: bool = True
    # Control (Gatys et al. 2017)
    preserve_color: str = "none"       # none | luminance | histogram
    mask: str | None = None            # image whose colours mark regions
    region_styles: tuple[tuple[str, str], ...] = ()  # (colour, style image) per styled region
    keep_unstyled: bool = False        # paste the photo back into regions without a style
    scales: int | None = None          # coarse-to-fine scales; None: 1 up to 512 px, +1 per doubling
    tile: int = 0                      # optimize in tiles of this many pixels (0: whole image)
    tile_overlap: int | None = None    # pixels shared by neighbouring tiles; None: tile // 4
    tile_passes: int = 2               # passes over the tile grid per scale, each grid shifted

    def validate(self) -> None:
        if self.iterations < 0:
            raise ImpastoError("--iterations must be 0 or more")
        if self.optimizer not in ("lbfgs", "adam"):
            raise ImpastoError(f"unknown optimizer {self.optimizer!r}; use lbfgs or adam")
        for name in ("content_weight", "style_weight", "tv_weight", "range_weight", "learning_rate",
                     "style_scale"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value != value or value < 0:
                raise ImpastoError(f"{name.replace('_', '-')} must be a number >= 0, not {value!r}")
        if self.style_scale <= 0:
            raise ImpastoError("style-scale must be greater than 0")
        if self.size < 16:
            raise ImpastoError("--size must be at least 16 pixels")
        if self.pooling not in ("max", "avg"):
            raise ImpastoError(f"unknown pooling {self.pooling!r}; use max or avg")
        if self.network not in ("vgg16", "vgg19"):
            raise ImpastoError(f"unknown network {self.network!r}; use vgg16 or vgg19")
        check_layers(self.network, list(self.content_layers) + list(self.style_layers))
        if self.style_layer_weights is not None:
            _check_weights("style-layer-weights", self.style_layer_weights, len(self.style_layers),
                           "style layers")
        if self.save_every < 0:
            raise ImpastoError("--save-every must be 0 or more")
        if self.preserve_color not in PRESERVE_COLOR:
            raise ImpastoError(f"--preserve-color must be one of {', '.join(PRESERVE_COLOR)}")
        if self.scales is not None and not 1 <= self.scales <= 8:
            raise ImpastoError("--scales must be between 1 and 8")
        if self.tile and self.tile < 32:
            raise ImpastoError("--tile must be at least 32 pixels (or 0 for no tiling)")
        if self.tile and not 0 <= self.overlap < self.tile // 2:
            raise ImpastoError("--tile-overlap must be at least 0 and less than half of --tile")
        if self.tile_passes < 1:
            raise ImpastoError("--tile-passes must be at least 1")
        if bool(self.mask) != bool(self.region_styles):
            raise ImpastoError("--mask and --region-style go together")

    @property
    def overlap(self) -> int:
        return self.tile // 4 if self.tile_overlap is None else self.tile_overlap

    def scale_sizes(self) -> list[int]:
        """Long sides, coarse to fine; each scale doubles the previous one."""
        count = self.scales or 1 + max(0, math.ceil(math.log2(self.size / AUTO_SCALE_FROM)))
        return [max(16, round(self.size / 2 ** k)) for k in reversed(range(count))]

    def scale_iterations(self, scales: int) -> list[int]:
        """`iterations` at the coarsest scale, half as many at each finer one: a good start from the
        coarser result needs fewer of the expensive iterations (at least 1 where iterations > 0)."""
        return [min(self.iterations, max(1, self.iterations >> k)) for k in range(scales)]


def _check_weights(what: str, weights: Sequence[float], count: int, of: str) -> list[float]:
    if len(weights) != count:
        raise ImpastoError(f"--{what} has {len(weights)} values for {count} {of}")
    if any(w != w or w < 0 for w in weights) or sum(weights) <= 0:
        raise ImpastoError(f"--{what} must be numbers >= 0 with a positive sum")
    return [w / sum(weights) for w in weights]


@dataclass
class OptimizeResult:
    image: Image.Image
    width: int
    height: int
    iterations: int
    seconds: float
    content_loss: float        # L_content (Eq. 1), unweighted, summed over content layers
    style_loss: float          # L_style = sum_l w_l E_l (Eq. 5), unweighted
    total_loss: float          # the weighted objective that was minimised
    initial_content_loss: float
    initial_style_loss: float
    initial_total_loss: float
    history: list[float] = field(default_factory=list)  # total loss per iteration

    def summary(self, output: str | os.PathLike | None = None) -> dict:
        """The JSON object that `impasto optimize --json` prints."""
        data = {key: value for key, value in dataclasses.asdict(self).items()
                if key not in ("image", "history")}
        return {"output": None if output is None else str(output), **data}


# --- the objective ------------------------------------------------------------------------------

@dataclass
class Region:
    """One styled region of a mask: its guide (1, 1, H, W) at the image's size, its style Grams."""

    guide: torch.Tensor
    style: dict[str, torch.Tensor]

    def crop(self, top: int, left: int, height: int, width: int) -> "Region":
        return Region(self.guide[..., top:top + height, left:left + width], self.style)


@dataclass
class Targets:
    """What the generated image should match: P^l per content layer, A^l / M_l per style layer
    (or, with a mask, per region)."""

    content: dict[str, torch.Tensor]
    style: dict[str, torch.Tensor]
    style_layer_weights: dict[str, float]
    regions: list[Region] = field(default_factory=list)


def as_rgb(image: torch.Tensor) -> torch.Tensor:
    """The loss network takes RGB; a luminance-only image (B, 1, H, W) is fed as grey."""
    return image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image


def compute_losses(vgg: torch.nn.Module, image: torch.Tensor, targets: Targets,
                   config: OptimizeConfig, range_scale: float = 0.0) -> dict[str, torch.Tensor]:
    """All terms of the objective for `image` (RGB or luminance, 0..1), plus the weighted total.

    `range_scale` weights losses.out_of_range; it is zero for any image inside 0..1."""
    layers = list(targets.content) + list(targets.style_layer_weights)
    features = vgg(as_rgb(image), layers)
    zero = image.new_zeros(())
    content = sum((losses.content_loss(features[l], p) for l, p in targets.content.items()), zero)
    content_normalised = sum((losses.normalised_content_loss(features[l], p)
                              for l, p in targets.content.items()), zero)
    style = zero
    if targets.regions:
        # Each region weighted by its share of the image, so style and content keep the balance
        # of an unmasked transfer pixel for pixel; a region with no style has content loss only.
        for region in targets.regions:
            share = region.guide.mean()
            if share > 1e-4:
                style = style + share * losses.style_loss(features, region.style,
                                                          targets.style_layer_weights, region.guide)
    elif targets.style_layer_weights:
        style = losses.style_loss(features, targets.style, targets.style_layer_weights)
    tv = losses.tv_loss(image) if config.tv_weight else zero
    total = (config.content_weight * content_normalised + config.style_weight * style
             + config.tv_weight * tv + range_scale * losses.out_of_range(image))
    return {"content": content, "style": style, "tv": tv, "total": total}


def style_targets(vgg: torch.nn.Module, styles: list[torch.Tensor], blend: list[float],
                  layers: Sequence[str], tile: int = 0) -> dict[str, torch.Tensor]:
    """A^l / M_l = sum_s b_s G^l(style_s) / M_l(style_s): matching the blended Gram has the same
    gradient as weighting each style's loss by b_s, at the cost of one loss instead of one per
    style. With `tile`, each painting's Gram is summed over crops (tiling.tiled_gram)."""
    grams = {layer: 0.0 for layer in layers}
    for style, weight in zip(styles, blend):
        if tile:
            style_grams = tiled_gram(vgg, as_rgb(style), layers, tile)
        else:
            with torch.no_grad():
                features = vgg(as_rgb(style), list(layers))
            style_grams = {layer: losses.gram_per_position(features[layer]) for layer in layers}
        for layer in layers:
            grams[layer] = grams[layer] + weight * style_grams[layer]
    return grams


def content_targets(vgg: torch.nn.Module, content: torch.Tensor, layers: Sequence[str]
                    ) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        features = vgg(as_rgb(content), list(layers))
    return {layer: features[layer].float() for layer in layers}


# --- the optimisation loop ----------------------------------------------------------------------

def optimize_pixels(image: torch.Tensor, loss_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
                    iterations: int, optimizer: str = "lbfgs", learning_rate: float = 0.02,
                    progress: bool = True, on_iteration: Callable[[int, torch.Tensor], None] | None = None
                    ) -> tuple[torch.Tensor, list[float]]:
    """Minimise loss_fn(image)["total"] over the pixels; one loss evaluation per iteration."""
    image = image.detach().clone().float().requires_grad_(True)
    if optimizer == "lbfgs":
        # max_iter=1 per step() keeps one evaluation per iteration (as in Johnson's neural-style);
        # negative tolerances: run the iterations asked for, never stop early.
        opt = torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=100,
                                tolerance_grad=-1.0, tolerance_change=-1.0)
    else:
        opt = torch.optim.Adam([image], lr=learning_rate)
    history: list[float] = []
    bar = tqdm(total=iterations, desc="optimize", unit="it", disable=not progress, leave=False)

    scale: list[float] = []

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = loss_fn(image)
        # Minimise total / (initial total): the same minimiser, but gradients of order 1. Torch's
        # L-BFGS falls back to a unit Hessian scale when a curvature pair is rejected (y.s <= 0, as
        # happens on the first step from the photo), and a unit step on the raw loss moved pixels by
        # thousands. Scaled, that fallback is a sane step; other steps are unchanged.
        if not scale:
            scale.append(1.0 / max(terms["total"].item(), 1e-12))
        (terms["total"] * scale[0]).backward()
        history.append(terms["total"].item())
        bar.set_postfix(content=f"{terms['content'].item():.3g}", style=f"{terms['style'].item():.3g}",
                        total=f"{history[-1]:.4g}", refresh=False)
        return terms["total"].detach() * scale[0]

    try:
        for i in range(1, iterations + 1):
            opt.step(closure)
            if optimizer == "adam":
                with torch.no_grad():
                    image.clamp_(0, 1)  # projected gradient: stay a valid image
            if not torch.isfinite(image).all():
                raise ImpastoError("optimization diverged (non-finite pixels); lower the weights or "
                                   "the learning rate")
            bar.update(1)
            if on_iteration is not None:
                on_iteration(i, image.detach())
    finally:
        bar.close()
    return image.detach().clamp(0, 1), history


def initial_image(init: str, content: torch.Tensor, style: torch.Tensor, seed: int) -> torch.Tensor:
    """White noise (Gatys et al.), the photo, the (first) painting, or an image file; with the
    content's number of channels (1 for luminance-only transfer)."""
    height, width = content.shape[-2:]
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if init == "content":
        return content.clone()
    source = to_image(style) if init == "style" else load_image(init, "init image")
    tensor = to_tensor(source.resize((width, height), Image.Resampling.LANCZOS)).to(content.device)
    return luminance(tensor) if content.shape[1] == 1 else tensor


def _as_list(styles: ImageInput | Sequence[ImageInput] | None) -> list[ImageInput]:
    if styles is None:
        return []
    if isinstance(styles, (str, os.PathLike, Image.Image)):
        return [styles]
    return list(styles)


def colour_inputs(content: torch.Tensor, styles: list[torch.Tensor], mode: str
                  ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The images the optimization works on, per --preserve-color (Gatys et al. 2017, section 5):
    luminance: the photo's Y, and each painting's Y matched to its mean and variance;
    histogram: the photo, and each painting with the photo's colour mean and covariance."""
    if mode == "luminance":
        y = luminance(content)
        return y, [match_luminance(luminance(s), y) for s in styles]
    if mode == "histogram":
        return content, [match_colour_histogram(s, content) for s in styles]
    return content, styles


@dataclass
class Stage:
    """The outcome of optimizing at one scale."""

    image: torch.Tensor
    initial: dict[str, float]
    final: dict[str, float]
    history: list[float]


def run_optimization(content: ImageInput, styles: ImageInput | Sequence[ImageInput] | None = None,
                     config: OptimizeConfig | None = None, output: str | os.PathLike | None = None,
                     callback: Callable[[int, torch.Tensor], None] | None = None,
                     **options) -> OptimizeResult:
    """Gatys et al. style transfer. `options` override fields of OptimizeConfig.

    With `mask` and `region_styles` ({colour: style} or pairs), each region of the mask takes its
    own style and `styles` stays empty. Writes `output` (atomically) if given; with
    config.save_every, also intermediate images OUTPUT_STEM-iterNNNN.EXT beside it (final scale).
    `callback(iteration, image)` runs after every iteration of the final scale.
    """
    if "region_styles" in options and options["region_styles"] is not None:
        options["region_styles"] = tuple(region_pairs(options["region_styles"]))
    config = dataclasses.replace(config or OptimizeConfig(), **options)
    config.validate()
    style_list = _as_list(styles)
    regions = region_pairs(config.region_styles) if config.mask else []
    if regions and style_list:
        raise ImpastoError("with --mask, give each region's style as --region-style COLOUR=STYLE "
                           "instead of a style argument")
    if not style_list and not regions:
        raise ImpastoError("give at least one style image")
    blend = _check_weights("style-blend", config.style_blend, len(style_list), "style images") \
        if config.style_blend is not None else [1.0 / max(1, len(style_list))] * len(style_list)
    if output is not None:
        output = check_output_path(output)

    start = time.perf_counter()
    device = resolve_device(config.device)
    dtype = resolve_precision(config.precision, device)
    photo = load_image(content, "content image")
    paintings = [load_image(s, "style image") for s in style_list]
    region_paintings = [load_image(s, "style image") for _, s in regions]
    mask = load_image(config.mask, "mask") if regions else None
    vgg = prepare(load_vgg(list(config.content_layers) + list(config.style_layers), config.network,
                           config.pooling, config.weights), device, dtype)
    layer_weights = dict(zip(config.style_layers, _check_weights(
        "style-layer-weights", config.style_layer_weights, len(config.style_layers), "style layers")
        if config.style_layer_weights is not None
        else [1.0 / len(config.style_layers)] * len(config.style_layers)))

    sizes = config.scale_sizes()
    image, stage, history = None, None, []
    for index, (size, iterations) in enumerate(zip(sizes, config.scale_iterations(len(sizes)))):
        last = index == len(sizes) - 1
        photo_tensor = to_tensor(resize_long_side(photo, size)).to(device)
        style_long = max(16, round(size * config.style_scale))
        style_tensors = [to_tensor(resize_long_side(p, style_long)).to(device)
                         for p in paintings + region_paintings]
        work, style_tensors = colour_inputs(photo_tensor, style_tensors, config.preserve_color)
        tile = config.tile if config.tile and max(work.shape[-2:]) > config.tile else 0
        targets = Targets({}, {}, layer_weights)
        if regions:
            guides = load_guides(mask, [c for c, _ in regions], (work.shape[-1], work.shape[-2]))
            targets.regions = [Region(guides[r:r + 1].to(device),
                                      style_targets(vgg, [s], [1.0], config.style_layers, tile))
                               for r, s in enumerate(style_tensors)]
        else:
            targets.style = style_targets(vgg, style_tensors, blend, config.style_layers, tile)
        if image is None:
            first_style = style_tensors[0]
            image = initial_image(config.init, work, first_style, config.seed)
        else:  # coarse-to-fine: the previous scale's result, upsampled, is the start
            image = torch.nn.functional.interpolate(image, size=work.shape[-2:], mode="bicubic",
                                                    align_corners=False).clamp(0, 1)
        stage_config = dataclasses.replace(config, iterations=iterations)
        if tile:
            stage = _optimize_tiled(vgg, image, work, targets, stage_config)
        else:
            targets.content = content_targets(vgg, work, config.content_layers)
            stage = _optimize_to_targets(vgg, image, targets, stage_config,
                                         output if last else None, callback if last else None)
        image = stage.image
        history += stage.history
        log.debug("scale %d/%d: %d px, %d iterations, loss %.4g", index + 1, len(sizes), size,
                  iterations, stage.final["total"])

    rgb = keep_colours(image, photo_tensor) if image.shape[1] == 1 else image
    if regions and config.keep_unstyled:
        styled = sum(r.guide for r in targets.regions).clamp(0, 1)
        rgb = styled * rgb + (1 - styled) * photo_tensor
    result = _result(stage, to_image(rgb), config.iterations, history)
    result.seconds = time.perf_counter() - start
    if output is not None:
        save_image(result.image, output)
    return result


def _result(stage: Stage, picture: Image.Image, iterations: int, history: list[float]) -> OptimizeResult:
    return OptimizeResult(
        image=picture, width=picture.width, height=picture.height, iterations=iterations,
        seconds=0.0, content_loss=stage.final["content"], style_loss=stage.final["style"],
        total_loss=stage.final["total"], initial_content_loss=stage.initial["content"],
        initial_style_loss=stage.initial["style"], initial_total_loss=stage.initial["total"],
        history=history)


def _floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {key: value.item() for key, value in terms.items()}


def _optimize_to_targets(vgg, image: torch.Tensor, targets: Targets, config: OptimizeConfig,
                         output: Path | None = None, callback: Callable[[int, torch.Tensor], None] | None = None
                         ) -> Stage:
    with torch.no_grad():
        initial = compute_losses(vgg, image, targets, config)
    # Unbounded L-BFGS pushes pixels past 0..1 and clamping afterwards undid much of its work (at
    # 256 px it doubled the final loss): a quadratic penalty scaled to the objective keeps them in.
    range_scale = config.range_weight * initial["total"].item()

    def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return compute_losses(vgg, x, targets, config, range_scale)

    def on_iteration(i: int, x: torch.Tensor) -> None:
        if output is not None and config.save_every and i % config.save_every == 0 and i < config.iterations:
            save_image(to_image(x), output.with_name(f"{output.stem}-iter{i:04d}{output.suffix}"))
        if callback is not None:
            callback(i, x)

    final_image, history = optimize_pixels(image, loss_fn, config.iterations, config.optimizer,
                                           config.learning_rate, config.progress, on_iteration)
    with torch.no_grad():
        final = loss_fn(final_image)  # the losses of the image the user gets (clamped)
    return Stage(final_image, _floats(initial), _floats(final), history)


def _optimize_tiled(vgg, image: torch.Tensor, content: torch.Tensor, targets: Targets,
                    config: OptimizeConfig) -> Stage:
    """Optimize tile by tile so memory depends on the tile, not the image (Gatys et al. 2017 only
    go coarse-to-fine; tiling is what lets that reach print sizes on a laptop).

    Every tile matches the whole painting's Grams (targets.style, per position) and its own crop
    of the photo; its result is blended into the canvas with feathered edges, later tiles start
    from their neighbours' pixels, and each pass shifts the grid so no border stays in one place.
    The losses reported are the area-weighted means over the tiles of the first (initial) and the
    last (final) pass."""
    height, width = image.shape[-2:]
    tile, overlap, passes = config.tile, config.overlap, config.tile_passes
    per_tile = max(1, config.iterations // passes) if config.iterations else 0
    step = tile - overlap
    grids = [list(tiles(height, width, tile, overlap, shift=p * step // passes)) for p in range(passes)]
    canvas = image.detach().clone().float()
    tile_config = dataclasses.replace(config, iterations=per_tile, progress=False)  # one bar: tiles
    initial: dict[str, float] = {}
    final: dict[str, float] = {}
    history: list[float] = []
    bar = tqdm(total=sum(len(g) for g in grids), desc="tiles", unit="tile",
               disable=not config.progress, leave=False)
    try:
        for number, grid in enumerate(grids):
            area = sum(h * w for _, _, h, w in grid)
            final = {}
            for top, left, h, w in grid:
                window = (..., slice(top, top + h), slice(left, left + w))
                tile_targets = Targets(content_targets(vgg, content[window], config.content_layers),
                                       targets.style, targets.style_layer_weights,
                                       [r.crop(top, left, h, w) for r in targets.regions])
                stage = _optimize_to_targets(vgg, canvas[window], tile_targets, tile_config)
                weight = feather(height, width, top, left, h, w, overlap).to(canvas)
                canvas[window] = canvas[window] * (1 - weight) + stage.image * weight
                history += stage.history
                for key in stage.final:
                    if number == 0:
                        initial[key] = initial.get(key, 0.0) + stage.initial[key] * h * w / area
                    final[key] = final.get(key, 0.0) + stage.final[key] * h * w / area
                bar.update(1)
    finally:
        bar.close()
    return Stage(canvas.clamp(0, 1), initial, final, history)


def optimize(content: ImageInput, styles: ImageInput | Sequence[ImageInput] | None = None,
             **options) -> Image.Image:
    """Notebook entry point: the stylized image. See run_optimization for the losses."""
    return run_optimization(content, styles, **options).image
