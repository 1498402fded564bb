"""Audio style transfer at the default settings: seconds per L-BFGS iteration and in all, for
10 s of audio, against the floor of its network: the random filter bank's forward+backward on the
same spectrogram (a 1-D convolution, 1025 -> 4096 channels, width 11).

    .venv/bin/python bench/audio.py [--seconds 10] [--iterations 20] [--repeats 3] [--precision auto]

The clips are the README's examples (examples/audio), looped to the length asked for. The total
adds the STFT, the targets and Griffin-Lim to the iterations.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import impasto
from impasto.core.config import AudioConfig
from impasto.sounds.audio_files import read_audio
from impasto.sounds.transfer import RandomFilters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import cpu_summary, timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def clip(name: str, seconds: float, rate: int) -> np.ndarray:
    samples = read_audio(ROOT / "examples" / "audio" / name, rate)
    return np.tile(samples, int(np.ceil(seconds * rate / len(samples))))[: int(seconds * rate)]


def filter_floor(frames: int, config: AudioConfig, precision: str) -> float:
    """Seconds for the filter bank's forward+backward on a spectrogram of `frames` frames."""
    placement = impasto.default_engine().placement("auto", precision)
    bank = placement.module(RandomFilters(config.n_fft // 2 + 1, config.filters, config.filter_width, 0, 5.0))
    x = torch.rand(1, config.n_fft // 2 + 1, 1, frames, device=placement.device, requires_grad=True)

    def step():
        x.grad = None
        bank(x, ["relu"])["relu"].float().pow(2).sum().backward()
    return timed(step, repeats=5, sync=placement.synchronize)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=20, help="iterations per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    config = AudioConfig()
    rate = config.sample_rate
    content, style = clip("melody.flac", args.seconds, rate), clip("drone.flac", args.seconds, rate)
    print(cpu_summary())
    per_iteration, totals = [], []
    for _ in range(args.repeats):
        stamps = []
        began = time.perf_counter()
        impasto.audio((content, rate), (style, rate), iterations=args.iterations, precision=args.precision,
                      progress=lambda e: stamps.append(time.perf_counter()) if e.phase == "iteration" else None)
        totals.append(time.perf_counter() - began)
        per_iteration.append(statistics.median(b - a for a, b in zip(stamps, stamps[1:])))
    iteration = statistics.median(per_iteration)
    overhead = statistics.median(totals) - iteration * args.iterations
    frames = int(args.seconds * rate) // (config.n_fft // 4) + 1
    floor = filter_floor(frames, config, args.precision)
    print(f"{args.seconds:g} s of audio at {rate} Hz, n_fft {config.n_fft}, {config.filters} filters, "
          f"precision {args.precision}:")
    print(f"  L-BFGS iteration        {iteration:.3f} s  = {iteration / floor:.2f}x the filter bank's "
          f"forward+backward ({floor:.3f} s)")
    print(f"  default run ({config.iterations} iterations + {config.griffin_lim_iterations} Griffin-Lim) "
          f"{overhead + iteration * config.iterations:.1f} s (fixed part {overhead:.1f} s)")


if __name__ == "__main__":
    main()
