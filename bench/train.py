"""Benchmark training: seconds per step at the default recipe (batch 4, 256x256 crops, VGG16 loss
network to relu4_3) for the full- and half-width network: fp32 (the old default on CPUs without
AMX), the automatic precision, and the automatic precision with the network compiled
(`--compile on`, the default for runs of 1000 steps or more). Each step time is also given as a
multiple of the sum of its bare passes (bench/floor.py), measured in the same run.

    .venv/bin/python bench/train.py [--data ../shared/data/train] [--steps 6]
    .venv/bin/python bench/train.py --src /tmp/base/src    # against another checkout, e.g. a
                                                           # `git worktree` of an older commit

Median over the timed steps after three warm-up steps (the first compiles). With --src, each
width runs as two processes in turn: that checkout's `train()` with its own defaults, then this
one's default for a long run (auto precision, compiled), and the speed-up between them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STYLE = ROOT / "examples" / "starry_night.jpg"


def step_time(data: str, steps: int, device: str, **options) -> float:
    """Median seconds per step of `impasto.train` (whichever impasto is importable)."""
    import torch

    from impasto.feedforward.train import train

    stamps = []

    def on_step(event) -> None:
        if event.phase != "iteration":
            return
        if torch.cuda.is_available() and device != "cpu":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        train(STYLE, data, Path(tmp) / "m.safetensors", iterations=steps + 4, device=device,
              checkpoint_every=10**6, progress=on_step, **options)
    return statistics.median([b - a for a, b in zip(stamps[3:], stamps[4:])])


def child_time(src: str | None, args: argparse.Namespace, **options) -> float:
    env = {**os.environ, "PYTHONPATH": src} if src else dict(os.environ)
    cmd = [sys.executable, __file__, "--child", json.dumps(options), "--data", args.data,
           "--steps", str(args.steps), "--device", args.device]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def compare(args: argparse.Namespace) -> None:
    print(f"{'width':>6} {'other s/step':>13} {'now s/step':>11} {'speed-up':>9}   (other: {args.src}, its defaults;"
          " now: auto precision, compiled)")
    for width in (0.5, 1.0):
        other = child_time(args.src, args, width=width)
        now = child_time(None, args, width=width, compile="on")
        print(f"{width:>6} {other:13.3f} {now:11.3f} {other / now:8.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "train"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--src", help="the src folder of another checkout to compare against")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(step_time(args.data, args.steps, args.device, **json.loads(args.child)))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from floor import cpu_summary, train_floor

    from impasto.core.placement import Placement

    print(cpu_summary())
    if args.src:
        compare(args)
        return
    print("batch 4, 256x256 crops; floor = transformer fwd+bwd + VGG fwd+bwd to relu4_3 + VGG fwd to relu2_2")
    print(f"{'width':>6} {'precision':>10} {'compile':>8} {'s/step':>8} {'floor s':>8} {'x floor':>8} {'vs fp32':>8}")
    for width in (1.0, 0.5):
        baseline = None
        for precision, compiled in (("fp32", "off"), ("auto", "off"), ("auto", "on")):
            step = step_time(args.data, args.steps, args.device, width=width, precision=precision, compile=compiled)
            baseline = baseline or step
            dtype = str(Placement.resolve(args.device, precision).dtype).replace("torch.", "")
            floor = train_floor(width, dtype.replace("float32", "fp32").replace("bfloat16", "bf16"), args.device)["sum"]
            print(f"{width:>6} {dtype:>10} {compiled:>8} {step:8.3f} {floor:8.3f} {step / floor:8.2f} "
                  f"{baseline / step:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
