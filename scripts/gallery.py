"""The README's gallery: every shipped style on three photos, at 512 px (the photos first):
examples/tubingen.jpg, and two never trained on: brad_pitt.jpg (../shared/data/content, a face) and
a held-out training photo (a monkey, impasto.data.held_out). Then a strip of mixes between two
styles (--mix).

    .venv/bin/python scripts/gallery.py [--size 512]   # docs/images/shipped_styles.jpg, style_mix.png

The gallery is a JPEG (quality 92): as a PNG it was 11 MB, added to the repository with every
snapshot of the network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageOps

from impasto.core.files import atomic_path
from impasto.core.images import load_image
from impasto.feedforward.model_files import list_models
from impasto.feedforward.stylize import stylize
from impasto.optimization.reconstruct import label_grid

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHOTOS = [ROOT / "examples" / "tubingen.jpg", DATA / "content" / "brad_pitt.jpg",
          DATA / "train" / "imagenetdet_n02484322_3182_monkey.jpg"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--output", default=str(ROOT / "docs" / "images" / "shipped_styles.jpg"))
    args = parser.parse_args()
    photos = [ImageOps.fit(load_image(p), (args.size, args.size * 3 // 4), Image.Resampling.LANCZOS)
              for p in PHOTOS]  # one 4:3 frame for all, so the grid lines up
    styles = [m["name"] for m in list_models() if m["source"] == "shipped"]
    rows = [[("photo", p) for p in photos]] + [[(name, stylize(p, name)) for p in photos] for name in styles]
    grids = [label_grid(row) for row in rows]
    out = Image.new("RGB", (max(g.width for g in grids), sum(g.height for g in grids)), "white")
    y = 0
    for g in grids:
        out.paste(g, (0, y))
        y += g.height
    with atomic_path(args.output) as tmp:
        out.save(tmp, format="JPEG", quality=92, subsampling=0)  # 4:4:4: fine texture kept
    print(f"wrote {args.output}")
    photo = photos[0].resize((args.size // 2, args.size * 3 // 8), Image.Resampling.LANCZOS)
    a, b = "starry_night", "the_scream"
    mixes = [(f"{a} {1 - w:.2g} + {b} {w:.2g}" if 0 < w < 1 else (a if w == 0 else b),
              stylize(photo, mix=f"{a}={1 - w},{b}={w}")) for w in (0, 0.25, 0.5, 0.75, 1)]
    target = Path(args.output).with_name("style_mix.png")
    with atomic_path(target) as tmp:
        label_grid(mixes).save(tmp, format="PNG", optimize=True)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
