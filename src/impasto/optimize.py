"""Style transfer by image optimization (Gatys, Ecker & Bethge, CVPR 2016).

The generated image x starts from white noise (or the photo) and its pixels follow the gradient of
    L_total = alpha * L_content / (N_l M_l) + beta * L_style + lambda_TV * L_TV
with the terms of `impasto.losses`. Content is matched at relu4_2, style at relu1_1 ... relu5_1.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from tqdm.auto import tqdm

from . import losses
from .errors import ImpastoError
from .images import check_output_path, load_image, resize_long_side, save_image, to_image, to_tensor
from .networks import check_layers, load_vgg
from .runtime import prepare, resolve_device, resolve_precision

log = logging.getLogger("impasto")

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
class Targets:
    """What the generated image should match: P^l per content layer, A^l per style layer."""

    content: dict[str, torch.Tensor]
    style: dict[str, torch.Tensor]
    style_layer_weights: dict[str, float]


def compute_losses(vgg: torch.nn.Module, image: torch.Tensor, targets: Targets,
                   config: OptimizeConfig, range_scale: float = 0.0) -> dict[str, torch.Tensor]:
    """All terms of the objective for `image` (RGB, 0..1), plus the weighted total.

    `range_scale` weights losses.out_of_range; it is zero for any image inside 0..1."""
    layers = list(targets.content) + list(targets.style_layer_weights)
    features = vgg(image, layers)
    zero = image.new_zeros(())
    content = sum((losses.content_loss(features[l], p) for l, p in targets.content.items()), zero)
    content_normalised = sum((losses.normalised_content_loss(features[l], p)
                              for l, p in targets.content.items()), zero)
    style = (losses.style_loss(features, targets.style, targets.style_layer_weights)
             if targets.style_layer_weights else zero)
    tv = losses.tv_loss(image) if config.tv_weight else zero
    total = (config.content_weight * content_normalised + config.style_weight * style
             + config.tv_weight * tv + range_scale * losses.out_of_range(image))
    return {"content": content, "style": style, "tv": tv, "total": total}


def style_targets(vgg: torch.nn.Module, styles: list[torch.Tensor], blend: list[float],
                  layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """A^l = sum_s b_s G^l(style_s): matching the blended Gram has the same gradient as weighting
    each style's loss by b_s, at the cost of one loss instead of one per style."""
    grams = {layer: 0.0 for layer in layers}
    with torch.no_grad():
        for style, weight in zip(styles, blend):
            features = vgg(style, list(layers))
            for layer in layers:
                grams[layer] = grams[layer] + weight * losses.gram_matrix(features[layer])
    return grams


def content_targets(vgg: torch.nn.Module, content: torch.Tensor, layers: Sequence[str]
                    ) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        features = vgg(content, list(layers))
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

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = loss_fn(image)
        terms["total"].backward()
        history.append(terms["total"].item())
        bar.set_postfix(content=f"{terms['content'].item():.3g}", style=f"{terms['style'].item():.3g}",
                        total=f"{history[-1]:.4g}", refresh=False)
        return terms["total"]

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
    """White noise (Gatys et al.), the photo, the (first) painting, or an image file."""
    height, width = content.shape[-2:]
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if init == "content":
        return content.clone()
    if init == "style":
        source = to_image(style)
    else:
        source = load_image(init, "init image")
    return to_tensor(source.resize((width, height), Image.Resampling.LANCZOS)).to(content.device)


def _as_list(styles: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    if isinstance(styles, (str, os.PathLike, Image.Image)):
        return [styles]
    return list(styles)


def run_optimization(content: ImageInput, styles: ImageInput | Sequence[ImageInput],
                     config: OptimizeConfig | None = None, output: str | os.PathLike | None = None,
                     callback: Callable[[int, torch.Tensor], None] | None = None,
                     **options) -> OptimizeResult:
    """Gatys et al. style transfer. `options` override fields of OptimizeConfig.

    Writes `output` (atomically) if given; with config.save_every, also intermediate images
    OUTPUT_STEM-iterNNNN.EXT beside it. `callback(iteration, image)` runs after every iteration
    (e.g. to show progress in a notebook).
    """
    config = dataclasses.replace(config or OptimizeConfig(), **options)
    config.validate()
    style_list = _as_list(styles)
    if not style_list:
        raise ImpastoError("give at least one style image")
    blend = _check_weights("style-blend", config.style_blend, len(style_list), "style images") \
        if config.style_blend is not None else [1.0 / len(style_list)] * len(style_list)
    if output is not None:
        output = check_output_path(output)

    start = time.perf_counter()
    device = resolve_device(config.device)
    dtype = resolve_precision(config.precision, device)
    content_image = resize_long_side(load_image(content, "content image"), config.size)
    style_long = max(16, round(config.size * config.style_scale))
    style_images = [resize_long_side(load_image(s, "style image"), style_long) for s in style_list]

    vgg = prepare(load_vgg(list(config.content_layers) + list(config.style_layers), config.network,
                           config.pooling, config.weights), device, dtype)
    content_tensor = to_tensor(content_image).to(device)
    style_tensors = [to_tensor(s).to(device) for s in style_images]
    layer_weights = dict(zip(config.style_layers, _check_weights(
        "style-layer-weights", config.style_layer_weights, len(config.style_layers), "style layers")
        if config.style_layer_weights is not None
        else [1.0 / len(config.style_layers)] * len(config.style_layers)))
    targets = Targets(content_targets(vgg, content_tensor, config.content_layers),
                      style_targets(vgg, style_tensors, blend, config.style_layers), layer_weights)
    image = initial_image(config.init, content_tensor, style_tensors[0], config.seed)
    result = _optimize_to_targets(vgg, image, targets, config, output, callback)
    result.seconds = time.perf_counter() - start
    if output is not None:
        save_image(result.image, output)
    return result


def _optimize_to_targets(vgg, image: torch.Tensor, targets: Targets, config: OptimizeConfig,
                         output: Path | None, callback: Callable[[int, torch.Tensor], None] | None = None
                         ) -> OptimizeResult:
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
    picture = to_image(final_image)
    return OptimizeResult(
        image=picture, width=picture.width, height=picture.height, iterations=config.iterations,
        seconds=0.0, content_loss=final["content"].item(), style_loss=final["style"].item(),
        total_loss=final["total"].item(), initial_content_loss=initial["content"].item(),
        initial_style_loss=initial["style"].item(), initial_total_loss=initial["total"].item(),
        history=history)


def optimize(content: ImageInput, styles: ImageInput | Sequence[ImageInput], **options) -> Image.Image:
    """Notebook entry point: the stylized image. See run_optimization for the losses."""
    return run_optimization(content, styles, **options).image
