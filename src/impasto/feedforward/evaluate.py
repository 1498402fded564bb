"""Johnson et al.'s quantitative comparison (their Table 1 / Fig. 5), as a command.

For each photo: the joint objective lambda_c l_feat + lambda_s l_style + lambda_TV l_TV of
(a) the network's output and (b) Gatys-style L-BFGS optimization of the same objective from white
noise, after 50, 100 and 300 iterations. The weights and layers are those the model was trained with.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, MutableMapping, Sequence

import torch

from ..core.config import EvaluateConfig, TrainConfig
from ..core.errors import ImpastoError, OutputError
from ..core.files import atomic_path, check_writable, file_sha256, refuse_overwriting_inputs
from ..core.images import check_side, expand_inputs, load_image, resize_long_side, to_tensor
from ..core.options import configure
from ..core.progress import ProgressCallback, Reporter
from ..core.results import Result
from ..losses.objective import johnson_objective
from ..nets import cached_vgg
from ..optimization.pixels import optimize_pixels
from .model_files import cached_transformer, style_weights

if TYPE_CHECKING:
    from ..core.cache import NetworkCache


def trained_config(meta: dict[str, str]) -> TrainConfig:
    """The training options stored in a model file's metadata."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        stored = json.loads(meta.get("train_args", "{}"))
    except json.JSONDecodeError:
        raise ImpastoError("the model's train_args metadata is not valid JSON") from None
    trained = {k: v for k, v in stored.items() if k in known and k not in ("device", "precision")}
    try:
        return configure(TrainConfig, **trained)
    except ImpastoError as exc:
        raise ImpastoError(f"the model's stored training options are malformed ({exc})") from None


def evaluate(model: str | os.PathLike, style: str | os.PathLike, images: Sequence[str],
             config: EvaluateConfig | None = None, csv_path: str | os.PathLike | None = None,
             progress: ProgressCallback | bool | None = None, cache: "NetworkCache | None" = None,
             references: MutableMapping[str, dict[str, float]] | None = None, **options) -> "EvaluateResult":
    """Johnson et al.'s table: rows {"image", "network", "lbfgs_50", ...} per photo, then a "mean"
    row; optionally written as CSV.
    Progress: every L-BFGS iteration, per photo (`item`).

    `references` caches the L-BFGS results, which do not depend on the network: keyed by the photo,
    the painting, the objective, size, seed and precision, so scoring another snapshot of a model
    trained the same way costs one network pass per photo."""
    from ..core.cache import default_cache

    cache = cache or default_cache()
    config = configure(EvaluateConfig, config, **options)
    if csv_path is not None:
        csv_path = Path(csv_path)
        if csv_path.is_dir():
            raise OutputError(f"CSV output '{csv_path}' is a folder")
        check_writable(csv_path.parent)
        refuse_overwriting_inputs([csv_path], [*images, style, *([model] if isinstance(model, (str, os.PathLike)) else [])])
    report = Reporter(progress, "evaluate")
    placement = cache.placement(config.device, config.precision)
    # The network runs as stylize runs it (bf16 where the CPU has it); the objective, and the
    # L-BFGS it is compared with, always in float32: L-BFGS's curvature pairs and line search in
    # bf16 are too coarse (seen on an AVX512-BF16 CPU: its objective climbed from 0.43 M at
    # iteration 40 to 2.7 M at 50, where float32 went on down to 0.16 M).
    scoring = cache.placement(config.device, "fp32")
    net, meta = cached_transformer(cache, model, placement)
    weights = style_weights(model, meta)  # which painting of a several-style network
    selected = None if weights is None else torch.tensor([weights])
    trained = trained_config(meta)
    vgg = cached_vgg(cache, list(trained.content_layers) + list(trained.style_layers), trained.network, "max",
                     trained.weights, scoring)
    painting = resize_long_side(load_image(style, "style image"), trained.style_size)
    check_side(painting.size, "the style image at the model's style size", "use a less elongated painting")
    painting = to_tensor(painting)
    objective = johnson_objective(vgg, painting.to(scoring.device), trained.content_layers,
                                  trained.style_layers, trained.content_weight, trained.style_weight,
                                  trained.tv_weight)
    checkpoints = sorted(set(config.iterations))
    if references is not None:  # what, besides the photo, the L-BFGS results depend on
        settings = json.dumps({"objective": {k: getattr(trained, k) for k in (
            "network", "weights", "content_layers", "style_layers", "content_weight", "style_weight",
            "tv_weight", "style_size")}, "painting": file_sha256(style), "size": config.size,
            "seed": config.seed, "range": config.range_weight, "dtype": str(scoring.dtype),
            "device": scoring.device.type}, sort_keys=True, default=str)
    rows = []
    for path in expand_inputs(images):
        photo = resize_long_side(load_image(path, "image"), config.size)
        check_side(photo.size, f"'{path.name}' at size {config.size}", "use a larger size")
        photo = to_tensor(photo).to(scoring.device)
        fixed = dataclasses.replace(objective, targets=dataclasses.replace(
            objective.targets, content=objective.content_targets(photo)))
        noise = torch.rand(photo.shape, generator=torch.Generator().manual_seed(config.seed)).to(scoring.device)
        with torch.no_grad():
            stylized = net(placement.tensor(photo).to(placement.dtype), selected).float()  # as stylize runs it
            row = {"image": path.name, "network": fixed(stylized).total.item()}
            # keep pixels in range as `impasto optimize` does; scored below on clamped images
            penalised = fixed.with_weights(range=config.range_weight * fixed(noise).total.item())

        def on_iteration(i: int, x: torch.Tensor, losses: dict[str, float], row=row, item=path.name) -> None:
            if i in checkpoints:
                with torch.no_grad():
                    row[f"lbfgs_{i}"] = fixed(x.clamp(0, 1)).total.item()
            report(iteration=i, iterations=checkpoints[-1], losses=losses, item=item, image=x)

        known, key = {}, ""
        if references is not None:
            key = hashlib.sha256(f"{file_sha256(path)} {settings}".encode()).hexdigest()
            known = references.get(key, {})
        if all(f"lbfgs_{i}" in known for i in checkpoints):
            row.update({f"lbfgs_{i}": known[f"lbfgs_{i}"] for i in checkpoints})
        else:
            optimize_pixels(noise, penalised, checkpoints[-1], "lbfgs", on_iteration=on_iteration)
            if references is not None:
                references[key] = {**known, **{k: v for k, v in row.items() if k.startswith("lbfgs_")}}
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
    return EvaluateResult(rows, None if csv_path is None else str(csv_path))


@dataclasses.dataclass
class EvaluateResult(Result):
    rows: list[dict]        # {"image", "network", "lbfgs_50", ...} per photo, then the "mean" row
    csv: str | None = None  # where the table was written

    def line(self) -> str:
        return format_table(self.rows)


def format_table(rows: list[dict]) -> str:
    columns = [c for c in rows[0] if c != "image"]
    width = max(len(r["image"]) for r in rows) + 2
    lines = ["image".ljust(width) + "".join(c.rjust(14) for c in columns)]
    for r in rows:
        lines.append(r["image"].ljust(width) + "".join(f"{r[c]:14.5g}" for c in columns))
    return "\n".join(lines)
