"""Working on images larger than memory allows in one piece: tile grids, feathered blending, and
Gram matrices summed tile by tile.

A Gram matrix is a sum over positions (G = sum_k f_k f_k^T), so the painting's Gram at any scale
can be accumulated from crops: each crop carries a halo of context so that the network sees
roughly what it would see in the whole image, and only the crop's interior positions are counted.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch

from . import terms as losses

ALIGN = 16  # VGG's deepest stride: interiors on multiples of 16 map onto whole feature positions
HALO = 64   # context around each crop of a tiled Gram (memory.py counts it)


def tile_starts(length: int, tile: int, overlap: int, shift: int = 0) -> list[int]:
    """Start offsets of tiles of `tile` pixels covering 0..length with at least `overlap` pixels
    shared between neighbours. `shift` moves the grid (tiles at the ends are clipped to the image),
    so successive passes put their borders in different places."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts, position = [], -(shift % step)
    while True:
        start = min(max(position, 0), length - tile)
        if not starts or start > starts[-1]:
            starts.append(start)
        if start + tile >= length:
            return starts
        position += step


def tiles(height: int, width: int, tile: int, overlap: int, shift: int = 0
          ) -> Iterator[tuple[int, int, int, int]]:
    """(top, left, tile height, tile width) over an image, row by row."""
    for top in tile_starts(height, tile, overlap, shift):
        for left in tile_starts(width, tile, overlap, shift):
            yield top, left, min(tile, height), min(tile, width)


def _ramp(length: int, start: int, size: int, overlap: int) -> torch.Tensor:
    """1 inside, rising linearly over `overlap` pixels at edges that are not the image's edges."""
    position = torch.arange(size, dtype=torch.float32)
    weight = torch.ones(size)
    if overlap > 0:
        if start > 0:
            weight = torch.minimum(weight, (position + 1) / (overlap + 1))
        if start + size < length:
            weight = torch.minimum(weight, (size - position) / (overlap + 1))
    return weight


def feather(height: int, width: int, top: int, left: int, tile_height: int, tile_width: int,
            overlap: int) -> torch.Tensor:
    """Blending weight (1, 1, h, w) of one tile: a tile's new pixels replace the canvas fully in its
    interior and fade out across the overlap, so no hard edge is ever written."""
    rows = _ramp(height, top, tile_height, overlap)
    cols = _ramp(width, left, tile_width, overlap)
    return (rows[:, None] * cols[None, :])[None, None]


def tiled_gram(vgg: torch.nn.Module, image: torch.Tensor, layers: Sequence[str], tile: int,
               halo: int = HALO) -> dict[str, torch.Tensor]:
    """Gram matrices per position (losses.gram_per_position) of `image` at `layers`, computed on
    crops of at most tile + 2 * halo pixels a side; equal to the whole-image result when one crop
    covers the image."""
    height, width = image.shape[-2:]
    layers = list(layers)
    if max(height, width) <= tile + 2 * halo:
        with torch.no_grad():
            features = vgg(image, layers)
        return {layer: losses.gram_per_position(features[layer]) for layer in layers}
    step = max(ALIGN, tile // ALIGN * ALIGN)
    halo = math.ceil(halo / ALIGN) * ALIGN
    sums: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(layers, 0)
    with torch.no_grad():
        for top in range(0, height, step):
            for left in range(0, width, step):
                y0, x0 = max(0, top - halo), max(0, left - halo)
                y1, x1 = min(height, top + step + halo), min(width, left + step + halo)
                features = vgg(image[..., y0:y1, x0:x1], layers)
                for layer in layers:
                    f = features[layer]
                    stride = 2 ** round(math.log2((y1 - y0) / f.shape[2]))
                    r0, c0 = (top - y0) // stride, (left - x0) // stride
                    r1 = min(f.shape[2], (min(height, top + step) - y0) // stride)
                    c1 = min(f.shape[3], (min(width, left + step) - x0) // stride)
                    if r1 <= r0 or c1 <= c0:
                        continue
                    interior = f[..., r0:r1, c0:c1]
                    gram = losses.gram_matrix(interior)
                    sums[layer] = sums[layer] + gram if layer in sums else gram
                    counts[layer] += interior.shape[2] * interior.shape[3]
    return {layer: sums[layer] / counts[layer] for layer in layers}
