"""Benchmark coarse-to-fine optimization and tiling (issue 4), on the current device.

1. Coarse-to-fine at 1024 px: single-scale L-BFGS for N iterations from noise sets a target loss
   (its final loss); the two-scale run (512 px, then 1024 px) records its 1024 px loss against
   wall time, and the script prints when each run reaches that loss.
2. Peak memory against output size (1024, 2048, 4096 px long side) with and without --tile 512.
   Each run is its own process (peak RSS is then its own) and does one pass of one iteration per
   tile at the full size only (--scales 1): memory, not quality, is measured here. A run that
   needs more than --memory-limit GiB is stopped by the limit and reported as such.

    .venv/bin/python bench/control.py                      # both parts (about 30 min on 2 cores)
    .venv/bin/python bench/control.py --part memory --sizes 1024 2048
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENT, STYLE = ROOT / "examples" / "tubingen.jpg", ROOT / "examples" / "starry_night.jpg"


def trace(size: int, scales: int, iterations: int):
    """(seconds since start, total loss) at every final-scale iteration, the total seconds, and
    the image."""
    from impasto.optimization.optimize import run_optimization

    stamps: list[float] = []
    start = time.perf_counter()
    result = run_optimization(CONTENT, STYLE, size=size, scales=scales, iterations=iterations, init="noise",
                              progress=lambda e: e.phase == "iteration" and e.scale == e.scales
                              and stamps.append(time.perf_counter() - start))
    # history[k] is the loss of the image iteration k started from, known at about the end of
    # iteration k - 1; the first one about one iteration before the first stamp.
    first = stamps[0] - (stamps[1] - stamps[0]) if len(stamps) > 1 else 0.0
    times = [first] + stamps[:-1] + [stamps[-1]]
    losses = result.history[-len(stamps):] + [result.total_loss]
    return times, losses, time.perf_counter() - start, result.image


def first_below(times: list[float], losses: list[float], target: float) -> float | None:
    return next((t for t, loss in zip(times, losses) if loss <= target), None)


def coarse_to_fine(args: argparse.Namespace) -> None:
    size = args.c2f_size
    single_t, single_l, single_s, single_image = trace(size, 1, args.single_iterations)
    target = single_l[-1]
    print(f"single scale: {args.single_iterations} iterations at {size} px: loss {target:.4g} "
          f"in {single_s:.0f} s", flush=True)
    multi_t, multi_l, multi_s, multi_image = trace(size, 2, args.coarse_iterations)
    reach = first_below(multi_t, multi_l, target)
    print(f"two scales: {args.coarse_iterations} iterations at {size // 2} px, then "
          f"{args.coarse_iterations // 2} at {size} px: loss {multi_l[-1]:.4g} in {multi_s:.0f} s", flush=True)
    for fraction in (2.0, 1.5, 1.2, 1.0):
        level = target * fraction
        a, b = first_below(single_t, single_l, level), first_below(multi_t, multi_l, level)
        fmt = lambda t: "not reached" if t is None else f"{t:7.0f} s"  # noqa: E731
        print(f"  time to loss <= {level:10.4g}: single scale {fmt(a)}   coarse-to-fine {fmt(b)}")
    print(json.dumps({"target": target, "single_s": single_s, "c2f_reach_s": reach, "c2f_s": multi_s}))
    if args.figure:
        from impasto.core.files import atomic_path
        from impasto.optimization.reconstruct import label_grid

        grid = label_grid([(f"1 scale: {args.single_iterations} its, {single_s:.0f} s", single_image),
                           (f"2 scales: {args.coarse_iterations}+{args.coarse_iterations // 2} its, "
                            f"{multi_s:.0f} s", multi_image)])
        with atomic_path(Path(args.figure)) as tmp:
            grid.save(tmp, format="PNG", optimize=True)
        print(f"wrote {args.figure}")


def memory_child(size: int, tile: int, limit_gib: float) -> None:
    import resource

    limit = int(limit_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from impasto.optimization.optimize import run_optimization

    start = time.perf_counter()
    result = run_optimization(CONTENT, STYLE, size=size, scales=1, iterations=1, init="content", tile=tile,
                              tile_passes=1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"peak_gib": peak, "seconds": time.perf_counter() - start,
                      "width": result.width, "height": result.height}))


def memory(args: argparse.Namespace) -> None:
    print(f"peak memory (RSS) of one full-size pass, limit {args.memory_limit} GiB of address space")
    print(f"{'output':>10} {'tiling':>10} {'peak GiB':>9} {'seconds':>8}")
    for size in args.sizes:
        for tile in (0, args.tile):
            proc = subprocess.run([sys.executable, __file__, "--child", str(size), str(tile),
                                   str(args.memory_limit)], capture_output=True, text=True)
            label = f"--tile {tile}" if tile else "none"
            if proc.returncode == 0:
                data = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"{data['width']:>5}x{data['height']:<5}{label:>10} {data['peak_gib']:9.2f} "
                      f"{data['seconds']:8.0f}", flush=True)
            else:
                last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["killed"]
                print(f"{size:>10} {label:>10}   failed: {last[0][:90]}", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        memory_child(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "c2f", "memory"], default="all")
    parser.add_argument("--c2f-size", type=int, default=1024)
    parser.add_argument("--single-iterations", type=int, default=100)
    parser.add_argument("--coarse-iterations", type=int, default=100,
                        help="iterations at half size; the full size gets half as many")
    parser.add_argument("--figure", default=None, help="write both 1024 px results side by side here")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--memory-limit", type=float, default=20.0, help="GiB of address space per run")
    args = parser.parse_args()
    if args.part in ("all", "c2f"):
        coarse_to_fine(args)
    if args.part in ("all", "memory"):
        memory(args)


if __name__ == "__main__":
    main()
