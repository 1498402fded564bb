"""The shipped styles the page offers: each model name with its painting (a 512 px copy ships in
impasto/pretrained/paintings, for thumbnails and for best-quality jobs in that style)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import ImpastoError
from ..feedforward.model_files import SHIPPED, list_models

PAINTINGS = SHIPPED / "paintings"


def shipped_styles() -> list[dict]:
    seen, styles = set(), []
    for model in list_models():
        if model["source"] != "shipped" or model["name"] in seen:
            continue
        seen.add(model["name"])
        has_painting = (PAINTINGS / f"{model['name']}.jpg").is_file()
        styles.append({"name": model["name"], "painting": f"/api/styles/{model['name']}/painting" if has_painting else None})
    return styles


def painting_for(name: str) -> Path:
    path = PAINTINGS / f"{name}.jpg"
    if name not in {s["name"] for s in shipped_styles()} or not path.is_file():
        raise ImpastoError(f"no shipped painting for style {name!r}")
    return path
