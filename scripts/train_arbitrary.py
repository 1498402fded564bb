"""Train the shipped arbitrary-style network (src/impasto/pretrained/arbitrary.safetensors), resumably.

    .venv/bin/python scripts/train_arbitrary.py --iterations 20000        # runs for hours on a CPU; resumable

Trains on ../shared/data/paintings (less its held-out split, the 120 paintings whose path hash is
smallest) and ../shared/data/train (less the 48 held-out photos of the shipped network), starting
from the shipped several-style network (impasto.arbitrary.train). Each run continues the checkpoint
bench/results/arbitrary/arbitrary.ckpt if there is one; otherwise it starts afresh, or, with
--from-snapshot, from the weights of the shipped model (the committed snapshot) with a fresh Adam.
--evaluate then prints the held-out evaluation of the model written (bench/arbitrary.py --quick).
While it runs, `--ship` writes the checkpoint's weights (fp16) as the shipped model and
`--snapshot FILE` as a model file to evaluate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from impasto.arbitrary import SHIPPED
from impasto.arbitrary.network import load_arbitrary
from impasto.arbitrary.train import _comparable, train_arbitrary, written_weights
from impasto.core.config import ArbitraryTrainConfig
from impasto.feedforward.train import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "results" / "arbitrary"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--lr", type=float, default=None, help="Adam rate of P and the tables (a resumed run may change it)")
    parser.add_argument("--style-weight", type=float, default=None, help="lambda_s (default: the recipe's)")
    parser.add_argument("--content-layers", default=None, help="L[,L...] (default: the recipe's)")
    parser.add_argument("--style-layers", default=None, help="L[,L...] (default: the recipe's)")
    parser.add_argument("--style-sizes", default=None, help="MIN,MAX long side paintings are read at (default: the recipe's)")
    parser.add_argument("--image-size", type=int, default=None, help="photo crop side (default: the recipe's)")
    parser.add_argument("--pull-exponent", type=float, default=None, help="each sample's style weight scaled by its pull (default: the recipe's 0)")
    parser.add_argument("--output", type=Path, default=OUT / "arbitrary.safetensors")
    parser.add_argument("--from-snapshot", action="store_true",
                        help="without a checkpoint, start from the shipped model's weights")
    parser.add_argument("--evaluate", action="store_true")
    parser.add_argument("--snapshot", type=Path, default=None,
                        help="only write the checkpoint's weights as a model file here (training may go on)")
    parser.add_argument("--ship", action="store_true",
                        help="only write the checkpoint's weights, in fp16, as the shipped model")
    args = parser.parse_args()
    if args.snapshot or args.ship:
        print(snapshot(args.output.with_suffix(".ckpt"), SHIPPED if args.ship else args.snapshot, half=args.ship))
        return
    args.output.parent.mkdir(parents=True, exist_ok=True)
    ckpt = args.output.with_suffix(".ckpt")
    given = {"lr": args.lr, "style_weight": args.style_weight,
             "content_layers": tuple(args.content_layers.split(",")) if args.content_layers else None,
             "style_layers": tuple(args.style_layers.split(",")) if args.style_layers else None,
             "style_sizes": tuple(int(v) for v in args.style_sizes.split(",")) if args.style_sizes else None,
             "image_size": args.image_size, "pull_exponent": args.pull_exponent}
    config = ArbitraryTrainConfig(iterations=args.iterations, **{k: v for k, v in given.items() if v is not None})
    if not ckpt.exists() and args.from_snapshot:
        seed_from_snapshot(ckpt, config)

    def show(event) -> None:
        if event.phase == "iteration" and event.iteration % 25 == 0:
            losses = " ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
            print(f"step {event.iteration}/{event.iterations} {event.elapsed:.0f} s {losses}", flush=True)

    result = train_arbitrary(DATA / "paintings", DATA / "train", args.output, config, resume=ckpt.exists(),
                             progress=show)
    print(json.dumps({"output": str(result.output), "iterations": result.iterations,
                      "seconds": round(result.seconds), "final_losses": result.final_losses}))
    if args.evaluate:
        subprocess.run([sys.executable, str(ROOT / "bench" / "arbitrary.py"), "--quick", "--model",
                        str(args.output)], check=True)


def snapshot(ckpt: Path, target: Path, half: bool = False) -> str:
    """The network a checkpoint holds, as a model file (to evaluate a run that goes on)."""
    from impasto.arbitrary.network import ArbitraryNet, save_arbitrary

    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net = ArbitraryNet()
    net.load_state_dict(written_weights(state))
    history = state["history"][-100:]  # the last weights' losses (the average's are not measured)
    final = {k: sum(h[k] for h in history) / len(history) for k in history[0]} if history else {}
    save_arbitrary(net, target, {"train_args": json.dumps(state["config"]), "iterations": str(state["iteration"]),
                                 "seconds": f"{state['seconds']:.1f}", "final_losses": json.dumps(final),
                                 "data": "../shared/data/paintings (WikiArt, non-commercial research use) and "
                                         "../shared/data/train"}, half=half)
    return f"wrote {target} (iteration {state['iteration']})"


def seed_from_snapshot(ckpt: Path, config: ArbitraryTrainConfig) -> None:
    """A checkpoint holding the shipped model's weights and its step count, with a fresh Adam."""
    net, meta = load_arbitrary(SHIPPED)
    save_checkpoint(ckpt, {"model": net.state_dict(), "optimizer": None, "iteration": int(meta["iterations"]),
                           "history": [], "seconds": float(meta["seconds"]), "config": _comparable(config)})


if __name__ == "__main__":
    main()
