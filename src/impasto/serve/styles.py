"""The styles the page offers: the shipped ones (each model name with its painting: a 512 px copy
ships in impasto/pretrained/paintings, for thumbnails and for best-quality jobs), and those learned
on this server from an uploaded painting (DATA/styles/NAME.safetensors, its new styles on the
shipped network, with NAME.jpg, the painting)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..core.errors import ImpastoError
from ..core.files import atomic_path
from ..feedforward.model_files import SHIPPED, list_models

PAINTINGS = SHIPPED / "paintings"
BASE = "styles"  # the shipped network new styles are learned on
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def shipped_styles() -> list[dict]:
    seen, styles = set(), []
    for model in list_models():
        if model["source"] != "shipped" or model["name"] in seen:
            continue
        seen.add(model["name"])
        has_painting = (PAINTINGS / f"{model['name']}.jpg").is_file()
        styles.append({"name": model["name"], "learned": False,
                       "painting": f"/api/styles/{model['name']}/painting" if has_painting else None})
    return styles


class Styles:
    """The shipped styles and this data folder's learned ones."""

    def __init__(self, root: Path):
        self.root = Path(root) / "styles"
        self.root.mkdir(parents=True, exist_ok=True)

    def learned(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.safetensors") if (self.root / f"{p.stem}.jpg").is_file())

    def list(self) -> list[dict]:
        return shipped_styles() + [{"name": n, "learned": True, "painting": f"/api/styles/{n}/painting"}
                                   for n in self.learned()]

    def names(self) -> set[str]:
        return {s["name"] for s in self.list()}

    def model(self, name: str) -> str:
        """What stylize takes for the style `name`: a shipped style's name, or a learned style's file."""
        if name in self.learned():
            return str(self.root / f"{name}.safetensors")
        if name in {s["name"] for s in shipped_styles()}:
            return name
        raise ImpastoError(f"no style {name!r}")

    def painting(self, name: str) -> Path:
        path = self.root / f"{name}.jpg" if name in self.learned() else PAINTINGS / f"{name}.jpg"
        if name not in self.names() or not path.is_file():
            raise ImpastoError(f"no painting for style {name!r}")
        return path

    def check_new_name(self, name: str) -> None:
        if not NAME.match(name):
            raise ImpastoError("a style's name is 1 to 40 lower-case letters, digits, '-' or '_', starting "
                               "with a letter or digit")
        if name in self.names():
            raise ImpastoError(f"there is a style named {name!r} already")

    def add(self, name: str, model: Path, painting: Path) -> None:
        """A learned style joins the list (its painting written first: a style is listed once both
        files are there)."""
        from PIL import Image

        with atomic_path(self.root / f"{name}.jpg") as tmp:
            image = Image.open(painting).convert("RGB")
            image.thumbnail((512, 512))
            image.save(tmp, format="JPEG", quality=90)
        os.replace(model, self.root / f"{name}.safetensors")

    def delete(self, name: str) -> None:
        if name in {s["name"] for s in shipped_styles()}:
            raise ImpastoError(f"{name!r} is a shipped style: only learned ones can be deleted")
        if name not in self.learned():
            raise KeyError(name)
        for suffix in (".safetensors", ".jpg"):
            (self.root / f"{name}{suffix}").unlink(missing_ok=True)
