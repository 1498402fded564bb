"""The README's main command against the old schedule, on this machine, in one run.

    .venv/bin/python bench/main_command.py        # about 17 minutes on a 2-core CPU

Runs, each as a fresh process (start-up included in the wall time):
  baseline: impasto optimize examples/tubingen.jpg examples/starry_night.jpg --scales 1 --iterations 500 --precision fp32
  new:      impasto optimize examples/tubingen.jpg examples/starry_night.jpg            (the defaults)
and prints wall seconds and --json's total_loss (the objective at 512 px) for both, and their
ratios. Both pictures are written side by side to bench/results/main_command.png.

    .venv/bin/python bench/main_command.py --init-fast     # the defaults against --init fast

instead runs the defaults and `--init fast` (optimization from the one-pass result of the arbitrary-
style network, FAST_START's schedule unless --fast-args gives another), alternated --repeats times,
and prints the medians and their ratios (the target: loss <= 1.0x, wall <= 0.5x the defaults').
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import cpu_summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results"
MAIN = ["optimize", "examples/tubingen.jpg", "examples/starry_night.jpg"]
BASELINE = ["--scales", "1", "--iterations", "500", "--precision", "fp32"]


def run(extra: list[str], output: Path) -> dict:
    cmd = [sys.executable, "-m", "impasto.cli", *MAIN, "-o", str(output), "--json", "--quiet", *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-baseline", type=str, default=None, metavar="JSON",
                        help="reuse a baseline measured earlier on this machine: '{\"wall\": s, \"total_loss\": x}'")
    parser.add_argument("--init-fast", action="store_true", help="the defaults against --init fast")
    parser.add_argument("--fast-args", default="", help="more options for the --init fast run, e.g. '--iterations 40'")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(cpu_summary(), flush=True)
    if args.init_fast:
        return init_fast(args.repeats, args.fast_args.split())
    new = run([], OUT / "main_new.png")
    print(f"new defaults: {new['wall']:.0f} s wall, total loss {new['total_loss']:.5g}", flush=True)
    base = json.loads(args.skip_baseline) if args.skip_baseline else run(BASELINE, OUT / "main_baseline.png")
    print(f"baseline (1 scale, 500 L-BFGS, fp32): {base['wall']:.0f} s wall, total loss {base['total_loss']:.5g}")
    print(f"new / baseline: wall {new['wall'] / base['wall']:.3f} (target <= 0.15), "
          f"loss {new['total_loss'] / base['total_loss']:.3f} (target <= 1.05)")
    pictures = [Image.open(OUT / name) for name in ("main_baseline.png", "main_new.png") if (OUT / name).exists()]
    if len(pictures) == 2:
        side = Image.new("RGB", (pictures[0].width * 2 + 8, pictures[0].height), "white")
        side.paste(pictures[0], (0, 0))
        side.paste(pictures[1], (pictures[0].width + 8, 0))
        side.save(OUT / "main_command.png")
        print(f"wrote {OUT / 'main_command.png'} (left: baseline, right: new defaults)")


def init_fast(repeats: int, extra: list[str]) -> None:
    import statistics

    runs = {"defaults": [], "init fast": []}
    for _ in range(repeats):
        runs["defaults"].append(run([], OUT / "main_new.png"))
        runs["init fast"].append(run(["--init", "fast", *extra], OUT / "main_fast.png"))
    medians = {name: {key: statistics.median(r[key] for r in rows) for key in ("wall", "total_loss")}
               for name, rows in runs.items()}
    for name, rows in runs.items():
        print(f"{name:>10}: wall median {medians[name]['wall']:.1f} s (runs "
              f"{', '.join(format(r['wall'], '.1f') for r in rows)}), total loss {medians[name]['total_loss']:.5g}")
    fast, base = medians["init fast"], medians["defaults"]
    print(f"init fast / defaults: wall {fast['wall'] / base['wall']:.3f} (target <= 0.5), "
          f"loss {fast['total_loss'] / base['total_loss']:.3f} (target <= 1.0)")
    pictures = [Image.open(OUT / name) for name in ("main_new.png", "main_fast.png")]
    side = Image.new("RGB", (pictures[0].width * 2 + 8, pictures[0].height), "white")
    side.paste(pictures[0], (0, 0))
    side.paste(pictures[1], (pictures[0].width + 8, 0))
    side.save(OUT / "main_init_fast.png")
    print(f"wrote {OUT / 'main_init_fast.png'} (left: the defaults, right: --init fast)")


if __name__ == "__main__":
    main()
