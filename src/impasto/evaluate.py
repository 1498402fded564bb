"""Johnson et al.'s quantitative comparison (their Table 1 / Fig. 5), as a command.

For each photo: the joint objective lambda_c l_feat + lambda_s l_style + lambda_TV l_TV of
(a) the network's output and (b) Gatys-style L-BFGS optimization of the same objective from white
noise, after 50, 100 and 300 iterations. The weights and layers are those the model was trained with.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Sequence

import torch

from .errors import ImpastoError
from .files import atomic_path
from .images import load_image, resize_long_side, to_tensor
from .models import load_model
from . import losses
from .optimize import OptimizeConfig, optimize_pixels
from .runtime import resolve_device, resolve_precision
from .stylize import expand_inputs
from .train import PerceptualObjective, TrainConfig


def evaluate(model: str | os.PathLike, style: str | os.PathLike, images: Sequence[str],
             iterations: Sequence[int] = (50, 100, 300), size: int = 256, csv_path: str | os.PathLike | None = None,
             device: str = "auto", precision: str = "auto", seed: int = 0, progress: bool = True) -> list[dict]:
    """Rows {"image", "network", "lbfgs_50", ...} per photo, then a "mean" row; optionally as CSV."""
    if not iterations or min(iterations) < 1:
        raise ImpastoError("--iterations must be positive whole numbers")
    if csv_path is not None:
        csv_path = Path(csv_path)
        if not csv_path.parent.is_dir():
            raise ImpastoError(f"output folder '{csv_path.parent}' does not exist")
    net, meta = load_model(model)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    trained = {k: v for k, v in json.loads(meta.get("train_args", "{}")).items()
               if k in known and k not in ("device", "precision", "progress")}
    for key in ("content_layers", "style_layers"):
        if key in trained:
            trained[key] = tuple(trained[key])
    config = dataclasses.replace(TrainConfig(), **trained, device=device, precision=precision)
    dev = resolve_device(device)
    dtype = resolve_precision(precision, dev)
    objective = PerceptualObjective.for_style(load_image(style, "style image"), config, dev, dtype)
    net = net.to(dev)
    checkpoints = sorted(set(iterations))
    rows = []
    for path in expand_inputs(images):
        photo = to_tensor(resize_long_side(load_image(path, "image"), size)).to(dev)
        generator = torch.Generator().manual_seed(seed)
        noise = torch.rand(photo.shape, generator=generator).to(dev)
        with torch.no_grad():
            row = {"image": path.name, "network": objective(net(photo), photo)["total"].item()}
            range_scale = OptimizeConfig.range_weight * objective(noise, photo)["total"].item()

        def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
            terms = objective(x, photo)
            # keep pixels in range as `impasto optimize` does; scored below on clamped images
            terms["total"] = terms["total"] + range_scale * losses.out_of_range(x)
            return terms

        def on_iteration(i: int, x: torch.Tensor) -> None:
            if i in checkpoints:
                with torch.no_grad():
                    row[f"lbfgs_{i}"] = objective(x.clamp(0, 1), photo)["total"].item()

        optimize_pixels(noise, loss_fn, checkpoints[-1], "lbfgs", progress=progress, on_iteration=on_iteration)
        rows.append(row)
    columns = ["network"] + [f"lbfgs_{i}" for i in checkpoints]
    rows.append({"image": "mean", **{c: sum(r[c] for r in rows) / len(rows) for c in columns}})
    if csv_path is not None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["image"] + columns)
        writer.writeheader()
        writer.writerows(rows)
        with atomic_path(csv_path) as tmp:
            tmp.write_text(buffer.getvalue())
    return rows


def format_table(rows: list[dict]) -> str:
    columns = [c for c in rows[0] if c != "image"]
    width = max(len(r["image"]) for r in rows) + 2
    lines = ["image".ljust(width) + "".join(c.rjust(14) for c in columns)]
    for r in rows:
        lines.append(r["image"].ljust(width) + "".join(f"{r[c]:14.5g}" for c in columns))
    return "\n".join(lines)
