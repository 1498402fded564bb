"""Train the shipped styles: one network for all eight paintings (conditional instance norm,
Dumoulin et al. 2017), resumably, and ship it in src/impasto/pretrained/styles.safetensors (fp16).

    .venv/bin/python scripts/train_shipped.py [--until 40000] [--chunk 500]   # train (resumes)
    .venv/bin/python scripts/train_shipped.py --evaluate [--photos 48] [--iterations 50 100 300]

Training runs in chunks: each chunk resumes from build/train/styles.ckpt, writes the model and ships
it, so stopping at any time (Ctrl-C, a session's end) loses at most one chunk and leaves a usable
model behind. Without that checkpoint (a fresh checkout) it goes on from the shipped model's weights
and iteration count, with a fresh Adam state. The held-out photos (`impasto.data.held_out`, the 48 whose path hash is smallest) are
never trained on; `--evaluate` scores every style on them and on ../shared/data/content
(Johnson et al.'s Table 1: the network's objective against L-BFGS from noise) and stores the
table in the model's metadata. The L-BFGS results are kept in build/train/lbfgs_references.json
and in the shipped model's evaluation metadata (they do not depend on the network), so scoring a
later snapshot costs one network pass per photo.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

from impasto.cli.terminal import ProgressBars
from impasto.core.files import atomic_path
from impasto.feedforward.data import PhotoFolder
from impasto.feedforward.evaluate import evaluate, format_table
from impasto.feedforward.model_files import load_model, read_metadata, save_model
from impasto.feedforward.train import checkpoint_path, load_checkpoint, seed_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SHIPPED = ROOT / "src" / "impasto" / "pretrained" / "styles.safetensors"
STYLES = ["starry_night", "the_scream", "la_muse", "mosaic", "candy", "udnie", "wave", "composition_vii"]
HOLD_OUT = 48
# The recipe (see the README's "Shipped styles" for why): half width keeps stylizing fast enough for
# video on a CPU; style weight 2 keeps faces readable; TV 1e-5 damps the stripes of short runs; the
# model shipped is a moving average of the weights (a ~500-step memory; from step 5,100 on).
RECIPE = {"width": 0.5, "style_weight": 2.0, "tv_weight": 1e-5, "batch_size": 4, "image_size": 256,
          "hold_out": HOLD_OUT, "checkpoint_every": 100, "compile": "on", "ema": 0.998}
# Adam's rate: 1e-3 until the run plateaued (mean network / L-BFGS 50 on the 15 evaluation photos:
# 1.082 at 20,500 and at 23,000 steps), then a tenth (1.076 after 500 more steps, where 1e-3 stayed).
LR_DECAY_AT, LR, DECAYED_LR = 23200, 1e-3, 1e-4
# Crops of 192 px from step 47,000 to 51,700: a 1,000-step branch from 38,200 had gained as much per
# step as 256 px crops (1.0702 against 1.0698) at 1.76x the steps per second, but in the run itself the
# mean ratio stayed at 1.0645 from 47,000 to 51,000 (256 px: 0.0005-0.001 lower per 1,000 steps).
SMALL_CROPS_FROM, SMALL_CROPS_UNTIL, SMALL_CROPS = 47000, 51700, 192


def carried_metadata(model: Path) -> dict[str, str]:
    """A model file's metadata less what save_model writes from the network itself."""
    return {k: v for k, v in read_metadata(model).items() if k not in ("format", "width", "norm", "upsample", "styles")}


def ship(model: Path) -> None:
    net, _ = load_model(model)
    meta = carried_metadata(model)
    shipped = read_metadata(SHIPPED) if SHIPPED.is_file() else {}
    if "evaluation" in shipped:
        evaluation = json.loads(shipped["evaluation"])
        if shipped.get("iterations") != meta.get("iterations"):
            # The table scored other weights; the L-BFGS results do not depend on them, and keeping
            # them spares a fresh checkout 30-80 minutes of recomputing when it scores this snapshot.
            evaluation = {"references": evaluation.get("references", {})}
        meta["evaluation"] = json.dumps(evaluation)
    save_model(net, SHIPPED, meta, half=True)


def run_training(work: Path, until: int, chunk: int) -> None:
    out = work / "styles.safetensors"
    ckpt = checkpoint_path(out)
    if not ckpt.is_file() and SHIPPED.is_file():
        # A fresh checkout: go on from the shipped weights (the optimizer's moments start afresh).
        start = seed_checkpoint(SHIPPED, ckpt, norm="conditional", iterations=until, **RECIPE)
        print(f"continuing from the shipped model at iteration {start}", flush=True)
    done = load_checkpoint(ckpt)["iteration"] if ckpt.is_file() else 0
    paintings = [DATA / "style" / f"{name}.jpg" for name in STYLES]
    while done < until:
        target = min(until, (done // chunk + 1) * chunk)
        for switch in (LR_DECAY_AT, SMALL_CROPS_FROM, SMALL_CROPS_UNTIL):
            if done < switch:
                target = min(target, switch)
        lr = LR if done < LR_DECAY_AT else DECAYED_LR
        size = SMALL_CROPS if SMALL_CROPS_FROM <= done < SMALL_CROPS_UNTIL else RECIPE["image_size"]
        result = train(paintings, DATA / "train", out, resume=ckpt.is_file(), iterations=target,
                       progress=ProgressBars(), **{**RECIPE, "image_size": size}, lr=lr)
        done = result.iterations
        ship(out)
        print(json.dumps({"iterations": done, "seconds": round(result.seconds),
                          "final_losses": result.final_losses}), flush=True)


def run_evaluation(work: Path, photos: int, content: int, iterations: list[int], size: int) -> None:
    held = PhotoFolder(DATA / "train", HOLD_OUT).held_out[:photos]
    images = [str(p) for p in held] + [str(p) for p in sorted((DATA / "content").glob("*.jpg"))[:content]]
    cache = work / "lbfgs_references.json"
    references = json.loads(cache.read_text()) if cache.is_file() else {}
    # The shipped model carries the L-BFGS results it was scored against, so a fresh checkout
    # scores a new snapshot in seconds too (computing them takes 30-80 minutes on a 2-core CPU).
    shipped = json.loads(read_metadata(SHIPPED).get("evaluation", "{}")).get("references", {})
    references = {**shipped, **references}
    work.mkdir(parents=True, exist_ok=True)
    # Score a copy: training running beside this may ship a newer snapshot meanwhile, and every
    # style must be scored on the weights the table is stored with.
    snapshot = work / "evaluated.safetensors"
    shutil.copyfile(SHIPPED, snapshot)
    evaluated = read_metadata(snapshot).get("iterations")
    table = {}
    for name in STYLES:
        rows = evaluate(f"{snapshot}:{name}", DATA / "style" / f"{name}.jpg", images, size=size,
                        iterations=iterations, progress=ProgressBars(), references=references).rows
        with atomic_path(cache) as tmp:
            tmp.write_text(json.dumps(references))
        per_photo = rows[:-1]
        table[name] = {
            "photos": len(per_photo),
            **{f"mean_{k}": rows[-1][k] for k in rows[-1] if k != "image"},
            **{f"share_at_or_below_lbfgs_{i}": sum(r["network"] <= r[f"lbfgs_{i}"] for r in per_photo) / len(per_photo)
               for i in iterations},
            "median_network_over_lbfgs_50": statistics.median(r["network"] / r["lbfgs_50"] for r in per_photo)
            if 50 in iterations else None,
        }
        print(name, json.dumps(table[name]), flush=True)
        print(format_table(rows), flush=True)
    meta = carried_metadata(SHIPPED)
    if meta.get("iterations") != evaluated:
        print(f"the shipped model moved on from iteration {evaluated} meanwhile: its table is not stored; "
              "evaluate again (the L-BFGS results are cached)", flush=True)
        return
    net, _ = load_model(SHIPPED)
    save_model(net, SHIPPED, {**meta, "evaluation": json.dumps({"size": size, "styles": table,
                                                                 "references": references})}, half=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--until", type=int, default=40000, help="total training steps")
    parser.add_argument("--chunk", type=int, default=500, help="steps between shipped snapshots")
    parser.add_argument("--work", default=str(ROOT / "build" / "train"))
    parser.add_argument("--evaluate", action="store_true", help="score the shipped model instead of training")
    parser.add_argument("--photos", type=int, default=HOLD_OUT, help="held-out photos to evaluate on")
    parser.add_argument("--content", type=int, default=5, help="photos of ../shared/data/content to add")
    parser.add_argument("--iterations", type=int, nargs="+", default=[50, 100, 300])
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    work = Path(args.work)
    if args.evaluate:
        run_evaluation(work, args.photos, args.content, args.iterations, args.size)
        return
    work.mkdir(parents=True, exist_ok=True)
    run_training(work, args.until, args.chunk)


if __name__ == "__main__":
    main()
