"""Benchmark Gatys et al. optimization on the current device.

Prints seconds per iteration (median over the timed iterations, after warm-up), the bare VGG16
forward+backward to relu5_1 at that size and precision (bench/floor.py) timed right before each
iteration in the same process, the median of iteration / bare pass over those pairs, and peak
memory at 256 and 512 px for L-BFGS and Adam in fp32 and bf16, then the total loss after 100 and
300 iterations. Each configuration runs in its own process so
that peak memory is its own.

    .venv/bin/python bench/optimize.py                 # everything (about 12 min on 2 CPU cores)
    .venv/bin/python bench/optimize.py --sizes 256 --loss-iterations 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
CONTENT, STYLE = ROOT / "examples" / "tubingen.jpg", ROOT / "examples" / "starry_night.jpg"


def child(args: argparse.Namespace) -> None:
    """One configuration: time iterations, report peak memory and losses as JSON."""
    import resource

    import torch
    from floor import bare_vgg_pass

    from impasto.api import default_engine
    from impasto.core.images import load_image, resize_long_side
    from impasto.core.placement import resolve_device
    from impasto.optimization.optimize import run_optimization

    device = resolve_device(args.device)
    width, height = resize_long_side(load_image(CONTENT), args.size).size
    # Each iteration is paired with a bare pass timed right before it, on the run's own loaded
    # network: this VM's speed drifts by 5-20 % within minutes, so a floor timed before or after
    # the iterations (as this bench first did) moved the multiple more than the code did.
    floor_pass = bare_vgg_pass(width, height, args.precision, args.device, engine=default_engine()) \
        if args.warmup else None
    iterations: list[float] = []
    floors: list[float] = []
    started: list[float] = []

    def on_iteration(event) -> None:
        if event.phase != "iteration":
            return
        if device.type == "cuda":
            torch.cuda.synchronize()
        if started:
            iterations.append(time.perf_counter() - started[0])
        if floor_pass is not None:
            start = time.perf_counter()
            floor_pass()
            floors.append(time.perf_counter() - start)
        started[:] = [time.perf_counter()]

    # one scale from noise: the per-iteration cost at the stated size, and the paper's start
    result = run_optimization(CONTENT, STYLE, size=args.size, iterations=args.iterations, scales=1, init="noise",
                              optimizer=args.optimizer, precision=args.precision, device=args.device,
                              progress=on_iteration)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # iteration i + 1 ran right after floor pass i
    steps = iterations[args.warmup:]
    paired = list(zip(iterations, floors))[args.warmup:]
    history = result.history
    print(json.dumps({
        "s_per_iter": statistics.median(steps) if steps else None,
        "floor": statistics.median(fl for _, fl in paired) if paired else None,
        "x_floor": statistics.median(it / fl for it, fl in paired) if paired else None,
        "peak_mib": peak,
        "loss_100": history[100] if len(history) > 100 else None,
        "loss_final": result.total_loss,
        "width": result.width, "height": result.height,
    }))


def run_child(size: int, optimizer: str, precision: str, iterations: int, device: str, warmup: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--size", str(size), "--optimizer", optimizer,
           "--precision", precision, "--iterations", str(iterations), "--device", device,
           "--warmup", str(warmup)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", default="lbfgs", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--iterations", type=int, default=12, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--timed-iterations", type=int, default=10)
    parser.add_argument("--loss-size", type=int, default=256)
    parser.add_argument("--loss-iterations", type=int, default=300)
    args = parser.parse_args()
    if args.child:
        return child(args)

    from floor import cpu_summary

    configs = [(o, p) for o in ("lbfgs", "adam") for p in ("fp32", "bf16")]
    print(f"impasto optimize benchmark, device={args.device}, tubingen x starry_night")
    print(cpu_summary())
    print(f"{'size':>9} {'optimizer':>9} {'precision':>9} {'s/iter':>8} {'floor s':>8} {'x floor':>8} {'peak MiB':>9}")
    for size in args.sizes:
        for optimizer, precision in configs:
            r = run_child(size, optimizer, precision, args.timed_iterations + args.warmup, args.device,
                          args.warmup)
            print(f"{r['width']:>4}x{r['height']:<4} {optimizer:>9} {precision:>9} {r['s_per_iter']:8.3f} "
                  f"{r['floor']:8.3f} {r['x_floor']:8.2f} {r['peak_mib']:9.0f}", flush=True)
    print(f"\ntotal loss at {args.loss_size} px (from noise, default weights)")
    print(f"{'optimizer':>9} {'precision':>9} {'after 100':>12} {f'after {args.loss_iterations}':>12} {'wall s':>8}")
    for optimizer, precision in configs:
        start = time.perf_counter()
        r = run_child(args.loss_size, optimizer, precision, args.loss_iterations, args.device, 0)
        loss_100 = f"{r['loss_100']:12.4g}" if r["loss_100"] is not None else f"{'-':>12}"
        print(f"{optimizer:>9} {precision:>9} {loss_100} {r['loss_final']:12.4g} "
              f"{time.perf_counter() - start:8.0f}", flush=True)


if __name__ == "__main__":
    main()
