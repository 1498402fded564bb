"""The new-style recipe on the seven paintings of ../shared/data/style the shipped network does not
hold: each learned with `impasto train --style P --from styles` (its defaults unless given), timed,
and scored as Johnson et al.'s Table 1 scores the shipped styles: the network's objective over
L-BFGS's from noise after 50 iterations, on held-out photos never trained on.

    .venv/bin/python scripts/new_styles.py [--paintings shipwreck ...] [--lr 0.02 --iterations 600]
    .venv/bin/python scripts/new_styles.py --shipped          # the shipped styles' own medians, same photos
    .venv/bin/python scripts/new_styles.py --scratch --iterations N --paintings shipwreck  # a whole network
    .venv/bin/python scripts/new_styles.py --pull     # d(y_s) of each painting; STYLE_PULL from the shipped eight
    .venv/bin/python scripts/new_styles.py --tag T --rescore  # score T's models again (their times kept)

Results (JSON, one file per run) go to WORK (default bench/results/new_styles/); resumable: a
painting whose result exists is skipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from impasto import evaluate, train
from impasto.feedforward.data import PhotoFolder
from impasto.feedforward.model_files import SHIPPED, read_metadata

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PAINTINGS = ["shipwreck", "frida_kahlo", "escher_sphere", "seated-nude", "picasso_selfport1907",
             "woman-with-hat-matisse", "feathers"]
SHIPPED_STYLES = ["starry_night", "the_scream", "la_muse", "mosaic", "candy", "udnie", "wave", "composition_vii"]
HOLD_OUT = 48  # the shipped network's held-out split: the same rule, so the same photos


def photos(count: int, content: int) -> list[str]:
    held = PhotoFolder(DATA / "train", HOLD_OUT).held_out[:count]
    return [str(p) for p in held] + [str(p) for p in sorted((DATA / "content").glob("*.jpg"))[:content]]


def score(model: str, painting: Path, images: list[str], references: dict) -> dict:
    rows = evaluate(model, painting, images, size=256, iterations=[50], references=references).rows[:-1]
    ratios = [r["network"] / r["lbfgs_50"] for r in rows]
    return {"median_ratio": statistics.median(ratios), "ratios": ratios,
            "mean_network": statistics.mean(r["network"] for r in rows)}


def pulls(names: list[str]) -> dict:
    """d(y_s) of each painting as `impasto train --from styles` takes it (new_styles.style_pull), and
    STYLE_PULL: the shipped styles' weight (2) times the median over the shipped eight."""
    from impasto.core.images import load_image
    from impasto.feedforward.new_styles import RECIPE, base_options, painting_pulls, style_weight
    from impasto.nets import load_vgg

    options = base_options("styles")
    paintings = [load_image(DATA / "style" / f"{name}.jpg", "style") for name in names]
    found = dict(zip(names, painting_pulls(load_vgg(list(options["style_layers"])), paintings,
                                           PhotoFolder(DATA / "train", HOLD_OUT), RECIPE["image_size"],
                                           options["style_size"], options["style_layers"])))
    pull = options["style_weight"] * statistics.median(found[n] for n in SHIPPED_STYLES)
    return {"pulls": {n: f"{v:.3g}" for n, v in found.items()}, "STYLE_PULL": f"{pull:.2g}",
            "weights": {n: style_weight([v]) for n, v in found.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paintings", nargs="+", default=PAINTINGS)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "results" / "new_styles")
    parser.add_argument("--tag", default="default", help="names this run's results (a sweep's settings)")
    parser.add_argument("--photos", type=int, default=12, help="held-out photos (plus --content)")
    parser.add_argument("--content", type=int, default=3)
    parser.add_argument("--shipped", action="store_true", help="score the shipped styles on the same photos")
    parser.add_argument("--table", action="store_true", help="print the results of --tag as a markdown table")
    parser.add_argument("--scratch", action="store_true", help="train a whole one-style network instead")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--lr-decay", type=float)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--ema", type=float)
    parser.add_argument("--style-weight", type=float, help="one style weight for every painting (default: each its own)")
    parser.add_argument("--pull", action="store_true", help="print each painting's d(y_s) and the shipped median")
    parser.add_argument("--rescore", action="store_true",
                        help="score the models of --tag again (after a change to the scoring), keeping their times")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.table:
        print("| painting | median network / L-BFGS 50 | photos at or below 1.1x | minutes |")
        print("| --- | ---: | ---: | ---: |")
        for name in args.paintings:
            path = args.work / f"{args.tag}-{name}.json"
            if path.is_file():
                r = json.loads(path.read_text())
                close = sum(x <= 1.1 for x in r["ratios"])
                print(f"| {name} | {r['median_ratio']:.3f} | {close} of {len(r['ratios'])} | {r['seconds'] / 60:.1f} |")
        return
    if args.pull:
        print(json.dumps(pulls(SHIPPED_STYLES + PAINTINGS)))
        return
    images = photos(args.photos, args.content)
    references_file = args.work / "lbfgs_references.json"
    references = json.loads(references_file.read_text()) if references_file.is_file() else {}
    if args.shipped:
        references.update(json.loads(read_metadata(SHIPPED / "styles.safetensors").get("evaluation", "{}"))
                          .get("references", {}))
        medians = {n: score(f"{SHIPPED / 'styles.safetensors'}:{n}", DATA / "style" / f"{n}.jpg", images,
                            references)["median_ratio"] for n in SHIPPED_STYLES}
        print(json.dumps({"shipped": medians, "median_of_medians": statistics.median(medians.values())}))
        return
    given = {k: v for k, v in (("lr", args.lr), ("lr_decay", args.lr_decay), ("iterations", args.iterations),
                               ("image_size", args.image_size), ("ema", args.ema),
                               ("style_weight", args.style_weight)) if v is not None}
    for name in args.paintings:
        result_file = args.work / f"{args.tag}-{name}.json"
        if result_file.is_file() and args.rescore:
            result = json.loads(result_file.read_text())
            result.update(score(str(args.work / f"{args.tag}-{name}.safetensors"), DATA / "style" / f"{name}.jpg",
                                images, references))
            references_file.write_text(json.dumps(references))
            result_file.write_text(json.dumps(result))
        if result_file.is_file():
            print(result_file.read_text().strip())
            continue
        painting = DATA / "style" / f"{name}.jpg"
        model = args.work / f"{args.tag}-{name}.safetensors"
        began = time.perf_counter()
        if args.scratch:  # a whole one-style network by the shipped recipe, for the same wall time
            train(painting, DATA / "train", model, **{"hold_out": HOLD_OUT, "width": 0.5, "ema": 0.998,
                                                      "style_weight": 2.0, "tv_weight": 1e-5, "overwrite": True,
                                                      **given})
        else:
            train(painting, DATA / "train", model, base="styles", hold_out=HOLD_OUT, overwrite=True, **given)
        seconds = time.perf_counter() - began
        weight = json.loads(read_metadata(model)["train_args"])["style_weight"]
        result = {"painting": name, "tag": args.tag, "seconds": round(seconds, 1), **given, "style_weight": weight,
                  **score(str(model), painting, images, references)}
        references_file.write_text(json.dumps(references))
        result_file.write_text(json.dumps(result))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
