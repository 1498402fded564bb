"""Render the README's pictures for colour control, masks, coarse-to-fine and tiling.

    .venv/bin/python scripts/control_figures.py [--only colour mask tile] [--iterations 300]

Writes docs/images/control_*.png. Uses the photo, painting and sky mask in examples/ and, for the
second style of the mask figure, ../shared/data/style/the_scream.jpg.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from impasto.core.files import atomic_path
from impasto.core.images import load_image, resize_long_side
from impasto.optimization.optimize import run_optimization
from impasto.optimization.reconstruct import label_grid

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES, DOCS = ROOT / "examples", ROOT / "docs" / "images"
PHOTO, PAINTING, MASK = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg", EXAMPLES / "tubingen_sky_mask.png"
SCREAM = ROOT.parent / "shared" / "data" / "style" / "the_scream.jpg"


def save(image: Image.Image, name: str) -> None:
    with atomic_path(DOCS / name) as tmp:
        image.save(tmp, format="PNG", optimize=True)
    print(f"wrote docs/images/{name}", flush=True)


def run(label: str, *args, **options) -> Image.Image:
    start = time.perf_counter()
    result = run_optimization(*args, **options)
    print(f"{label}: {result.width}x{result.height}, loss {result.total_loss:.4g}, "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return result.image


def colour(iterations: int, size: int) -> None:
    images = [(mode, run(f"colour {mode}", PHOTO, PAINTING, size=size, iterations=iterations,
                         init="content", preserve_color=mode))
              for mode in ("none", "luminance", "histogram")]
    photo = resize_long_side(load_image(PHOTO), size)
    save(label_grid([("photo", photo)] + [(f"--preserve-color {m}", im) for m, im in images]),
         "control_colour.png")


def mask(iterations: int, size: int) -> None:
    sky_only = run("mask sky", PHOTO, None, size=size, iterations=iterations, init="content", mask=MASK,
                   region_styles={"white": PAINTING}, keep_unstyled=True)
    two = run("mask two styles", PHOTO, None, size=size, iterations=iterations, init="content", mask=MASK,
              region_styles={"white": PAINTING, "black": SCREAM})
    shown = load_image(MASK).resize(sky_only.size)
    save(label_grid([("mask: white = sky", shown), ("sky starry_night, rest kept", sky_only),
                     ("sky starry_night, rest scream", two)]), "control_mask.png")


def tile(iterations: int, size: int) -> None:
    """Two scales: half size in one piece, then the full size in tiles of 3/8 of it (3 x 4 tiles,
    two shifted passes). Tiles this small relative to the image make any seam easy to see."""
    tile_size = size * 3 // 8
    image = run("tiled", PHOTO, PAINTING, size=size, iterations=iterations, scales=2, tile=tile_size,
                init="noise")
    save(label_grid([(f"--size {size} --scales 2 --tile {tile_size}", image)]), "control_tiled.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=["colour", "mask", "tile"])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--tile-size", type=int, default=512, help="output size of the tiled figure")
    args = parser.parse_args()
    if "colour" in args.only:
        colour(args.iterations, args.size)
    if "mask" in args.only:
        mask(args.iterations, args.size)
    if "tile" in args.only:
        tile(args.iterations // 2, args.tile_size)


if __name__ == "__main__":
    main()
