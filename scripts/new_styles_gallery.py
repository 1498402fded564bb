"""The docs' gallery of new styles: each of the seven paintings learned with the recipe
(scripts/new_styles.py) on three photos the network never trained on, at 512 px.

    .venv/bin/python scripts/new_styles_gallery.py [--tag pull]    # writes docs/images/new_styles.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

import impasto
from impasto.feedforward.data import PhotoFolder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WORK = ROOT / "bench" / "results" / "new_styles"
PAINTINGS = ["shipwreck", "frida_kahlo", "escher_sphere", "seated-nude", "picasso_selfport1907",
             "woman-with-hat-matisse", "feathers"]
CELL = 256  # each 512 px result is shown at half size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="default", help="the scripts/new_styles.py run whose models to show")
    tag = parser.parse_args().tag
    photos = [DATA / "content" / "brad_pitt.jpg", PhotoFolder(DATA / "train", 48).held_out[3],
              DATA / "content" / "golden_gate.jpg"]
    engine = impasto.Engine()
    rows = []
    for name in PAINTINGS:
        painting = Image.open(DATA / "style" / f"{name}.jpg").convert("RGB")
        painting.thumbnail((CELL, CELL))
        cells = [painting]
        for photo in photos:
            picture = engine.stylize(photo, WORK / f"{tag}-{name}.safetensors", size=512)
            picture.save(WORK / f"gallery-{name}-{Path(photo).stem}.png")
            cells.append(picture.resize((CELL, round(CELL * picture.height / picture.width))))
        rows.append((name, cells))
    height = max(c.height for _, cells in rows for c in cells)
    sheet = Image.new("RGB", (4 * (CELL + 8) + 8, len(rows) * (height + 26) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (name, cells) in enumerate(rows):
        y = 8 + r * (height + 26)
        draw.text((8, y), name, fill="black")
        for c, cell in enumerate(cells):
            sheet.paste(cell, (8 + c * (CELL + 8), y + 16))
    sheet.save(ROOT / "docs" / "images" / "new_styles.jpg", quality=88)


if __name__ == "__main__":
    main()
