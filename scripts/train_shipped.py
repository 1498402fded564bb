"""Train the style models that ship in src/impasto/pretrained/ (stored in fp16).

    .venv/bin/python scripts/train_shipped.py [--iterations 600] [--styles starry_night ...]

The recipe used for the shipped models is the default here; see the README's "Shipped styles".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from impasto.models import load_model, read_metadata, save_model
from impasto.terminal import ProgressBars
from impasto.train import train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", nargs="+", default=["starry_night", "the_scream", "la_muse", "mosaic"])
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--style-weight", type=float, default=2.0)
    parser.add_argument("--work", default=str(ROOT / "build" / "train"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for name in args.styles:
        options = {"iterations": args.iterations, "width": args.width, "checkpoint_every": 100}
        if args.style_weight is not None:
            options["style_weight"] = args.style_weight
        out = work / f"{name}.safetensors"
        resume = out.with_suffix(".ckpt").is_file()
        result = train(DATA / "style" / f"{name}.jpg", DATA / "train", out, resume=resume, progress=ProgressBars(), **options)
        net, _ = load_model(out)
        shipped = ROOT / "src" / "impasto" / "pretrained" / f"{name}.safetensors"
        save_model(net, shipped, {k: v for k, v in read_metadata(out).items()
                                  if k not in ("format", "width", "norm", "upsample")}, half=True)
        print(json.dumps({"style": name, "seconds": round(result.seconds), "final_losses": result.final_losses}),
              flush=True)


if __name__ == "__main__":
    main()
