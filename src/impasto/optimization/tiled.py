"""Optimizing an image tile by tile, so memory depends on the tile, not the image (Gatys et al.
2017 only go coarse-to-fine; tiling is what lets that reach print sizes on a laptop). The tile
geometry and the tiled Gram matrices are in tiling.py."""

from __future__ import annotations

from typing import Sequence

import torch

from ..core.config import OptimizeConfig
from ..core.progress import Reporter
from ..losses.objective import Objective, Targets, content_targets
from ..losses.tiled_gram import feather, tiles
from .pixels import Stage, optimize_stage


def optimize_tiled(objective: Objective, image: torch.Tensor, content: torch.Tensor,
                   content_layers: Sequence[str], config: OptimizeConfig, report: Reporter) -> Stage:
    """Every tile matches the whole painting's Grams (objective.targets.style, per position) and its
    own crop of the photo; its result is blended into the canvas with feathered edges, later tiles
    start from their neighbours' pixels, and each pass shifts the grid so no border stays in one
    place. The losses reported are the area-weighted means over the tiles of the first (initial)
    and the last (final) pass. Progress: every iteration of every tile, with the canvas as of the
    last finished tile."""
    height, width = image.shape[-2:]
    tile, overlap, passes = config.tile, config.overlap, config.tile_passes
    per_tile = max(1, config.iterations // passes) if config.iterations else 0
    step = tile - overlap
    grids = [list(tiles(height, width, tile, overlap, shift=p * step // passes)) for p in range(passes)]
    canvas = image.detach().clone().float()
    targets = objective.targets
    initial: dict[str, float] = {}
    final: dict[str, float] = {}
    history: list[float] = []
    for number, grid in enumerate(grids):
        area = sum(h * w for _, _, h, w in grid)
        final = {}
        for index, (top, left, h, w) in enumerate(grid):
            window = (..., slice(top, top + h), slice(left, left + w))
            tile_objective = Objective(objective.vgg, Targets(
                content_targets(objective.vgg, content[window], content_layers), targets.style,
                targets.style_layer_weights, [r.crop(top, left, h, w) for r in targets.regions]),
                objective.weights, objective.form)
            tile_report = report.within(tile=index + 1, tiles=len(grid), tile_pass=number + 1,
                                        tile_passes=passes)
            stage = optimize_stage(
                tile_objective, canvas[window], per_tile, config.optimizer, config.learning_rate,
                config.range_weight,
                lambda i, x, losses: tile_report(iteration=i, iterations=per_tile, losses=losses,
                                                 image=canvas))
            weight = feather(height, width, top, left, h, w, overlap).to(canvas)
            canvas[window] = canvas[window] * (1 - weight) + stage.image * weight
            history += stage.history
            share = h * w / area
            if number == 0:
                for key, value in stage.initial.items():
                    initial[key] = initial.get(key, 0.0) + value * share
            for key, value in stage.final.items():
                final[key] = final.get(key, 0.0) + value * share
    return Stage(canvas.clamp(0, 1), initial, final, history)
