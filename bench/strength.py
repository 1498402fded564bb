"""--strength from 0 (the photo) to 1: the style loss along the way, for trained styles (--model,
the pixels laid over the photo's) and for any painting (--style, the embeddings blended).

    .venv/bin/python bench/strength.py [--size 256]

For each of the five content photos and each painting (three shipped styles; three paintings for
--style), the style loss of bench/arbitrary_metric.py at strengths 0, 0.1, ..., 1; printed: the
median over the photos per strength, and whether every photo's curve falls monotonically.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arbitrary_metric import Measure  # noqa: E402
from floor import cpu_summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
STRENGTHS = [i / 10 for i in range(11)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    import impasto
    from impasto.core.images import load_image, resize_long_side

    print(cpu_summary())
    engine, measure = impasto.Engine(), Measure()
    photos = [resize_long_side(load_image(p), args.size) for p in sorted((DATA / "content").glob("*.jpg"))]
    cases = [("model", name, dict(model=f"styles:{name}")) for name in ("starry_night", "mosaic", "wave")]
    cases += [("style", name, dict(style=DATA / "style" / f"{name}.jpg"))
              for name in ("shipwreck", "frida_kahlo", "woman-with-hat-matisse")]
    print(f"{'how':>6} {'painting':>24} " + " ".join(f"{s:>7}" for s in STRENGTHS) + "  monotone")
    for how, name, given in cases:
        painting = Image.open(DATA / "style" / f"{name}.jpg").convert("RGB")
        curves = []
        for n, photo in enumerate(photos):
            curves.append([measure(engine.stylize(photo, strength=s, **given), str(n), photo, name, painting)[1]
                           for s in STRENGTHS])
        medians = [statistics.median(c[i] for c in curves) for i in range(len(STRENGTHS))]
        monotone = all(all(b <= a for a, b in zip(c, c[1:])) for c in curves)
        print(f"{how:>6} {name:>24} " + " ".join(f"{m / 1e3:6.0f}k" for m in medians) + f"  {monotone}", flush=True)


if __name__ == "__main__":
    main()
