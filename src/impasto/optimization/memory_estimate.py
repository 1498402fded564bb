"""Will a run fit in memory? An estimate made before the work starts, so a run that cannot fit is
refused in one line instead of being killed by the kernel hours (or gigabytes) later.

The estimate counts what dominates: the loss network's activations kept for the backward pass
(channels per pixel summed over the layers up to the deepest one used, in the compute dtype), the
fp32 copies the Gram matrices take, L-BFGS's history (lbfgs.HISTORY pairs of image-sized fp32 tensors), and
the forward pass over each painting. It errs on the high side (bench/control.py
--part memory measures the real peak).
"""

from __future__ import annotations

from ..core.memory import check_fits
from .lbfgs import HISTORY

BASE = 0.6 * 2**30          # interpreter, torch, VGG weights


def channels_per_pixel(network: str, last: str) -> list[tuple[str, float]]:
    """(layer, its channels per input pixel) for each layer up to `last`: channels divided by the
    layer's downsampling."""
    from ..core.layer_names import layer_plan

    out, stride = [], 1
    for name, _, channels in layer_plan(network):
        if name.startswith("pool"):
            stride *= 4
        out.append((name, channels / stride))
        if name == last:
            break
    return out


def estimate_bytes(pixels: int, style_pixels: list[int], bytes_per_value: int, channels: int,
                   network: str, last: str, style_layers: list[str], lbfgs: bool, iterations: int) -> float:
    """Peak bytes of optimizing an image of `pixels` against paintings of `style_pixels`."""
    layers = channels_per_pixel(network, last)
    stored = sum(c for _, c in layers)
    largest = max(c for _, c in layers)
    activations = pixels * (stored + 2 * largest) * bytes_per_value       # forward kept + backward
    gram_copies = pixels * sum(c for name, c in layers if name in style_layers) * 4
    # lbfgs.LBFGS: the pairs and a spare one, filled as they come, its last gradient and direction
    history = (2 * min(iterations, HISTORY + 1) + 2) * pixels * channels * 4 if lbfgs else 0
    buffers = 6 * pixels * 3 * 4
    painting = max(style_pixels, default=0) * (2 * largest * bytes_per_value + 3 * 4 * 2)
    return BASE + max(activations + gram_copies + history + buffers, painting)


def check_optimize(config, photo_size: tuple[int, int], painting_sizes: list[tuple[int, int]],
                   bytes_per_value: int) -> float:
    """Estimate an optimize run's peak memory over its scales; raise ImpastoError if it exceeds
    config.max_memory GiB (default: what is available now; 0: no check). Returns the estimate."""
    from ..core.config import MIN_SIDE
    from ..core.images import long_side_size as scaled
    from ..core.layer_names import deepest
    from ..losses.tiled_gram import HALO

    layers = list(config.content_layers) + list(config.style_layers)
    last = deepest(config.network, layers)
    channels = 1 if config.preserve_color == "luminance" else 3
    peak = 0.0
    for size in config.scale_sizes():
        width, height = scaled(photo_size, size)
        style_long = max(MIN_SIDE, round(size * config.style_scale))
        styles = [scaled(s, style_long) for s in painting_sizes]
        tiled = config.tile and max(width, height) > config.tile
        pixels = min(config.tile, width) * min(config.tile, height) if tiled else width * height
        style_pixels = [min(w, config.tile + 2 * HALO) * min(h, config.tile + 2 * HALO) if tiled else w * h
                        for w, h in styles]
        peak = max(peak, estimate_bytes(pixels, style_pixels, bytes_per_value, channels, config.network,
                                        last, list(config.style_layers), config.optimizer == "lbfgs",
                                        config.iterations)
                   + sum(w * h * 3 * 4 for w, h in styles) + width * height * 3 * 4 * 3)
    check_fits(peak, config.max_memory, "optimize in tiles (--tile 512 / tile=512) or lower the size or "
               "style scale")
    return peak
