"""The README's gallery: every shipped style on the same photo, at 512 px.

    .venv/bin/python scripts/gallery.py   # writes docs/images/shipped_styles.png
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from impasto.files import atomic_path
from impasto.images import load_image, resize_long_side
from impasto.models import list_models
from impasto.reconstruct import label_grid
from impasto.stylize import stylize

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    photo = resize_long_side(load_image(ROOT / "examples" / "tubingen.jpg"), 512)
    shipped = [m for m in list_models() if m["source"] == "shipped"]
    tiles = [("photo", photo)] + [(m["name"], stylize(photo, m["name"])) for m in shipped]
    rows = [tiles[:3], tiles[3:]] if len(tiles) > 3 else [tiles]
    grids = [label_grid(row) for row in rows]
    width = max(g.width for g in grids)
    out = Image.new("RGB", (width, sum(g.height for g in grids)), "white")
    y = 0
    for g in grids:
        out.paste(g, (0, y))
        y += g.height
    with atomic_path(ROOT / "docs" / "images" / "shipped_styles.png") as tmp:
        out.save(tmp, format="PNG", optimize=True)
    print("wrote docs/images/shipped_styles.png")


if __name__ == "__main__":
    main()
