"""Style transfer by image optimization (Gatys, Ecker & Bethge, CVPR 2016), coarse to fine.

The generated image x starts from white noise (or the photo) and its pixels follow the gradient of
    L_total = alpha * L_content / (N_l M_l) + beta * L_style + lambda_TV * L_TV
(objective.py). This module prepares the inputs (colour control, masks), runs the scales from
coarse to fine (each starting from the previous result, upsampled, with the finer photo's detail:
finer_start), whole or in tiles (tiled.py), and reports the result.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch
from PIL import Image

from ..core.colour import keep_colours, luminance, match_colour_histogram, match_luminance
from ..core.config import MIN_SIDE, OptimizeConfig, loss_weights, normalised_weights
from ..core.errors import ImpastoError
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
from ..core.progress import Progress, ProgressCallback, Reporter, chain
from ..core.results import Result, hidden
from ..losses.objective import Objective, Region, Targets, content_targets, style_targets
from ..nets import cached_vgg
from .masks import load_guides, region_pairs
from .memory_estimate import check_optimize
from .pixels import Stage, optimize_stage
from .tiled import optimize_tiled

if TYPE_CHECKING:
    from ..core.cache import NetworkCache

log = logging.getLogger("impasto")

__all__ = ["OptimizeResult", "run_optimization"]


@dataclass
class OptimizeResult(Result):
    image: Image.Image = hidden()
    width: int = 0
    height: int = 0
    iterations: int = 0
    seconds: float = 0.0
    content_loss: float = 0.0  # L_content (Eq. 1), unweighted, summed over content layers
    style_loss: float = 0.0    # L_style = sum_l w_l E_l (Eq. 5), unweighted
    total_loss: float = 0.0    # the weighted objective that was minimised
    initial_content_loss: float = 0.0
    initial_style_loss: float = 0.0
    initial_total_loss: float = 0.0
    history: list[float] = hidden(default_factory=list)  # total loss per iteration
    output: str | None = None

    @classmethod
    def from_stage(cls, stage: Stage, picture: Image.Image, iterations: int, history: list[float],
                   seconds: float) -> "OptimizeResult":
        return cls(image=picture, width=picture.width, height=picture.height, iterations=iterations,
                   seconds=seconds, content_loss=stage.final["content"], style_loss=stage.final["style"],
                   total_loss=stage.final["total"], initial_content_loss=stage.initial["content"],
                   initial_style_loss=stage.initial["style"], initial_total_loss=stage.initial["total"],
                   history=history)

    def line(self) -> str:
        return f"wrote {self.output} ({self.width}x{self.height}, total loss {self.total_loss:.4g})"


def initial_image(init: "str | Image.Image", content: torch.Tensor, style: torch.Tensor, seed: int) -> torch.Tensor:
    """White noise (Gatys et al.), the photo, the (first) painting, or an image (a file); with the
    content's number of channels (1 for luminance-only transfer)."""
    if init == "fast":
        raise ImpastoError("init fast (the one-pass result) is made by impasto.optimize / the Engine")
    height, width = content.shape[-2:]
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if init == "content":
        return content.clone()
    source = to_image(style) if init == "style" else load_image(init, "init image")
    tensor = to_tensor(source.resize((width, height), Image.Resampling.LANCZOS)).to(content.device)
    return luminance(tensor) if content.shape[1] == 1 else tensor


def finer_start(result: torch.Tensor, photo: torch.Tensor, finer_photo: torch.Tensor) -> torch.Tensor:
    """Coarse-to-fine: the start at the next scale is the finer photo plus the previous scale's
    stylization (its result less its photo), upsampled. The upsampled result alone is smooth where
    the finer scale needs the photo's fine detail, and its iterations went on rebuilding it; this
    start ends lower (bench/RESULTS.md). Noise added as well did not pay at short runs and
    speckles them: not taken."""
    stylization = torch.nn.functional.interpolate(result - photo, size=finer_photo.shape[-2:],
                                                  mode="bicubic", align_corners=False)
    return (finer_photo + stylization).clamp(0, 1)


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


def style_list(styles: ImageInput | Sequence[ImageInput] | None) -> list[ImageInput]:
    if styles is None:
        return []
    if isinstance(styles, (str, os.PathLike, Image.Image)) or hasattr(styles, "__array_interface__"):
        return [styles]
    return list(styles)


def final_scale_step(event: Progress) -> bool:
    """An iteration of the last scale, outside tiles: what --save-every and the older callback see."""
    return event.phase == "iteration" and event.scale == event.scales and not event.tiles


def save_every(output: Path, every: int) -> ProgressCallback:
    """A progress consumer that writes OUTPUT-iterNNNN.EXT every `every` iterations of the final
    scale (not its last iteration: that is the output itself)."""
    def consume(event: Progress) -> None:
        if (final_scale_step(event) and event.iteration % every == 0 and event.iteration < event.iterations
                and event.image is not None):
            save_image(event.picture(), output.with_name(f"{output.stem}-iter{event.iteration:04d}{output.suffix}"))
    return consume


def run_optimization(content: ImageInput, styles: ImageInput | Sequence[ImageInput] | None = None,
                     config: OptimizeConfig | None = None, output: str | os.PathLike | None = None,
                     progress: ProgressCallback | bool | None = None,
                     callback: Callable[[int, torch.Tensor], None] | None = None,
                     cache: "NetworkCache | None" = None, start: Image.Image | None = None,
                     **options) -> OptimizeResult:
    """Gatys et al. style transfer. `options` override fields of OptimizeConfig. `start`: an image to
    start from in place of `init`'s (init fast: the one-pass result the API makes).

    With `mask` and `region_styles` ({colour: style} or pairs), each region of the mask takes its
    own style and `styles` stays empty. Writes `output` (atomically) if given; with save_every,
    also intermediate images OUTPUT_STEM-iterNNNN.EXT beside it (final scale). `progress` receives
    a Progress event after every iteration of every scale and tile, and one at the end; raising
    impasto.Cancelled from it stops the run with nothing written. (`callback(iteration, image)`,
    the older form, runs after every iteration of the final scale.)
    """
    from ..core.cache import default_cache

    cache = cache or default_cache()
    if options.get("region_styles") is not None:
        options["region_styles"] = tuple(region_pairs(options["region_styles"]))
    config = configure(OptimizeConfig, config, **options)
    paintings_in = style_list(styles)
    regions = region_pairs(config.region_styles) if config.mask else []
    if regions and paintings_in:
        raise ImpastoError("with a mask, give each region's style as a region style (COLOUR=STYLE) "
                           "instead of a style argument")
    if not paintings_in and not regions:
        raise ImpastoError("give at least one style image")
    blend = normalised_weights("style_blend", config.style_blend, len(paintings_in), "style images") \
        if config.style_blend is not None else [1.0 / max(1, len(paintings_in))] * len(paintings_in)
    if output is not None:
        output = check_output_path(output)
        refuse_overwriting_inputs([output], [content, *paintings_in, *(s for _, s in regions), config.mask,
                                             None if config.init == "fast" else config.init])

    report = Reporter(chain(progress, _old_callback(callback),
                            save_every(output, config.save_every)
                            if output is not None and config.save_every else None), "optimize")
    placement = cache.placement(config.device, config.precision)
    photo = load_image(content, "content image")
    paintings = [load_image(s, "style image") for s in paintings_in]
    region_paintings = [load_image(s, "style image") for _, s in regions]
    mask = load_image(config.mask, "mask") if regions else None
    check_optimize(config, photo.size, [p.size for p in paintings + region_paintings],
                   placement.dtype.itemsize)
    vgg = cached_vgg(cache, list(config.content_layers) + list(config.style_layers), config.network,
                     config.pooling, config.weights, placement)
    layer_weights = dict(zip(config.style_layers, normalised_weights(
        "style_layer_weights", config.style_layer_weights, len(config.style_layers), "style layers")
        if config.style_layer_weights is not None
        else [1.0 / len(config.style_layers)] * len(config.style_layers)))
    weights = loss_weights(config)

    sizes = config.scale_sizes()
    image, stage, history = None, None, []
    for index, (size, iterations) in enumerate(zip(sizes, config.scale_iterations(len(sizes)))):
        photo_small = resize_long_side(photo, size)
        check_side(photo_small.size, f"the photo at scale {index + 1} of {len(sizes)}",
                   "use a larger size or fewer scales")
        photo_tensor = to_tensor(photo_small).to(placement.device)
        style_small = [resize_long_side(p, max(MIN_SIDE, round(size * config.style_scale)))
                       for p in paintings + region_paintings]
        for p in style_small:
            check_side(p.size, f"a style image at scale {index + 1} of {len(sizes)}",
                       "use a larger style scale or size")
        style_tensors = [to_tensor(p).to(placement.device) for p in style_small]
        work, style_tensors = colour_inputs(photo_tensor, style_tensors, config.preserve_color)
        tile = config.tile if config.tile and max(work.shape[-2:]) > config.tile else 0
        targets = Targets({}, {}, layer_weights)
        if regions:
            guides = load_guides(mask, [c for c, _ in regions], (work.shape[-1], work.shape[-2]))
            targets.regions = [Region(guides[r:r + 1].to(placement.device),
                                      style_targets(vgg, [s], [1.0], config.style_layers, tile))
                               for r, s in enumerate(style_tensors)]
        else:
            targets.style = style_targets(vgg, style_tensors, blend, config.style_layers, tile)
        if image is None:
            image = initial_image(start if start is not None else config.init, work, style_tensors[0], config.seed)
        else:
            image = finer_start(image, previous, work)
        previous = work
        scale_report = report.within(scale=index + 1, scales=len(sizes))
        if tile:
            stage = optimize_tiled(Objective(vgg, targets, weights), image, work, config.content_layers,
                                   dataclasses.replace(config, iterations=iterations), scale_report)
        else:
            targets.content = content_targets(vgg, work, config.content_layers)
            stage = optimize_stage(
                Objective(vgg, targets, weights), image, iterations, config.optimizer,
                config.learning_rate, config.range_weight,
                lambda i, x, losses, n=iterations: scale_report(iteration=i, iterations=n,
                                                                losses=losses, image=x),
                keep_best=True)  # L-BFGS's early steps can overshoot: never end on one
        image = stage.image
        history += stage.history
        log.debug("scale %d/%d: %d px, %d iterations, loss %.4g", index + 1, len(sizes), size,
                  iterations, stage.final["total"])

    rgb = keep_colours(image, photo_tensor) if image.shape[1] == 1 else image
    if regions and config.keep_unstyled:
        styled = sum(r.guide for r in targets.regions).clamp(0, 1)
        rgb = styled * rgb + (1 - styled) * photo_tensor
    result = OptimizeResult.from_stage(stage, to_image(rgb), config.iterations, history,
                                       time.perf_counter() - report.start)
    report(phase="done", scale=len(sizes), scales=len(sizes), iteration=iterations,
           iterations=iterations, losses=dict(stage.final), image=rgb)
    if output is not None:
        save_image(result.image, output)
        result.output = str(output)
    return result


def _old_callback(callback: Callable[[int, torch.Tensor], None] | None) -> ProgressCallback | None:
    """The pre-Progress callback(iteration, image): every iteration of the final, untiled scale."""
    if callback is None:
        return None

    def consume(event: Progress) -> None:
        if final_scale_step(event):
            callback(event.iteration, event.image)
    return consume
