"""Video: frames per second at 640x360 and 1280x720, with and without temporal consistency, the
share of time in decoding, network, temporal step (two DIS flows, the consistency check, the warp
and blend), measuring (the warping errors) and encoding; and peak memory for two clip lengths.

    .venv/bin/python bench/video.py [--frames 60] [--model mosaic] [--repeats 3]

The clips are synthetic pans over examples/tubingen.jpg (impasto.synthetic), H.264 in MP4. The
temporal step is reported as a share of the network's own time per frame (the target: at most 30 %
at 360p on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

import impasto
from impasto.testing import pan_zoom, write_clip

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import cpu_summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(clip: Path, out: Path, model: str, temporal: bool, repeats: int) -> dict:
    """The run with the median frames per second of `repeats` (after one warm-up)."""
    impasto.video(clip, out, model=model, temporal=temporal, measure=False)
    runs = [impasto.video(clip, out, model=model, temporal=temporal, measure=False) for _ in range(repeats)]
    return sorted(runs, key=lambda r: r["frames_per_second"])[len(runs) // 2]


def peak_memory(clip: Path, out: Path, model: str) -> float:
    """MiB: the child's own VmHWM (ru_maxrss of a process forked from this one never reads below
    this process's RSS at the fork, ~900 MiB after the timed runs)."""
    script = ("import os, resource, sys, impasto; impasto.video(sys.argv[1], sys.argv[2], model=sys.argv[3]);"
              "status = open('/proc/self/status').read() if os.path.exists('/proc/self/status') else '';"
              "print(next((l.split()[1] for l in status.splitlines() if l.startswith('VmHWM')),"
              " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))")
    done = subprocess.run([sys.executable, "-c", script, str(clip), str(out), model], capture_output=True,
                          text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--model", default="mosaic")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    photo = Image.open(ROOT / "examples" / "tubingen.jpg")
    print(cpu_summary())
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for width, height in ((640, 360), (1280, 720)):
            clip = folder / f"clip{height}.mp4"
            write_clip(clip, pan_zoom(photo, args.frames, (width, height)))
            print(f"\n{width}x{height}, {args.frames} frames, model {args.model}:")
            for temporal in (False, True):
                r = run(clip, folder / "out.mp4", args.model, temporal, args.repeats)
                t = r["timings"]
                total = sum(t.values())
                shares = ", ".join(f"{k} {v / total:.0%}" for k, v in t.items() if v)
                extra = (f"; temporal step {t['temporal'] / r['frames'] * 1000:.1f} ms/frame = "
                         f"{t['temporal'] / t['network']:.0%} of the network's {t['network'] / r['frames'] * 1000:.1f} ms"
                         if temporal else f"; network {t['network'] / r['frames'] * 1000:.1f} ms/frame")
                print(f"  {'temporal     ' if temporal else 'frame by frame'} {r['frames_per_second']:.1f} frames/s "
                      f"({shares}){extra}")
        short, long = folder / "short.mp4", folder / "long.mp4"
        write_clip(short, pan_zoom(photo, 30, (640, 360)))
        write_clip(long, pan_zoom(photo, 600, (640, 360)))
        peaks = [peak_memory(c, folder / "m.mp4", args.model) for c in (short, long)]
        print(f"\npeak memory (RSS), 640x360, temporal: 30 frames {peaks[0]:.0f} MiB, 600 frames {peaks[1]:.0f} MiB")


if __name__ == "__main__":
    main()
