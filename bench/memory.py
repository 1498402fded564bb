"""Peak memory of each workload as a user runs it: every command in its own process, peak RSS
(the process's maximum resident set: its VmHWM). With --src, the same commands run against
another checkout's sources (e.g. a `git worktree` of an older commit) for a before/after table.

    .venv/bin/python bench/memory.py                         # this checkout
    .venv/bin/python bench/memory.py --src /tmp/base/src     # another checkout, same environment

Options a checkout does not know (--runtime torch, --scales, --compile) are left out for it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
PHOTO, PAINTING = ROOT / "examples" / "tubingen.jpg", ROOT / "examples" / "starry_night.jpg"
TRAIN = ROOT.parent / "shared" / "data" / "train"


# The child reports its own VmHWM (the peak of its memory since exec): wait4's ru_maxrss of a
# process forked from this one never reads below this process's own RSS at the fork (~300 MiB
# once torch is imported), which hid smaller peaks.
CHILD = """import atexit, sys
def report(path=sys.argv[1]):
    with open('/proc/self/status') as status, open(path, 'w') as out:
        out.write(next(line.split()[1] for line in status if line.startswith('VmHWM')))
atexit.register(report)
from impasto.cli import main
sys.argv = ['impasto'] + sys.argv[2:]
sys.exit(main())"""


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(peak RSS MiB, seconds, exit status) of `impasto ARGS` in a new process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log, tempfile.NamedTemporaryFile("r") as peak:
        # the log a file, not a pipe: progress bars cannot fill it and stall
        proc = subprocess.Popen([sys.executable, "-c", CHILD, peak.name, *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        err = log.read().strip()
        reported = peak.read().strip()
    if proc.returncode:
        print(f"   failed: impasto {' '.join(args)}\n   {err.splitlines()[-1] if err else ''}")
    kib = int(reported) if reported else usage.ru_maxrss  # VmHWM where /proc has it
    return kib / 1024, time.perf_counter() - start, proc.returncode


def knows(command: str, option: str, env: dict[str, str]) -> bool:
    code = f"import sys; from impasto.cli import main; sys.argv = ['impasto', '{command}', '--help']; main()"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    return option in out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", help="the src folder of another checkout to measure instead")
    parser.add_argument("--train-photos", type=int, default=64, help="photos linked into the training folder")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    from floor import cpu_summary

    print(cpu_summary())
    print(f"sources: {args.src or ROOT / 'src'}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = tmp / "photos"
        photos.mkdir()
        for path in sorted(TRAIN.rglob("*.jpg"))[: args.train_photos]:
            (photos / path.name).symlink_to(path)
        torch_runtime = ["--runtime", "torch"] if knows("stylize", "--runtime", env) else []
        single = ["--scales", "1"] if knows("optimize", "--scales", env) else []
        compiled = knows("train", "--compile", env)
        video_in = tmp / "clip.mp4"
        workloads = [
            ("stylize 512 px (torch)", ["stylize", "--model", "starry_night", str(PHOTO), "--size", "512",
                                        "-o", str(tmp / "s512.png"), *torch_runtime]),
            ("stylize 1024 px (torch)", ["stylize", "--model", "starry_night", str(PHOTO), "--size", "1024",
                                         "-o", str(tmp / "s1024.png"), *torch_runtime]),
        ]
        if knows("stylize", "openvino", env):
            # The exported path as a user's second command meets it: the export already cached.
            run(["stylize", "--model", "starry_night", str(PHOTO), "--size", "64", "-o", str(tmp / "w.png"),
                 "--runtime", "openvino"], env)
            workloads += [(f"stylize {size} px (openvino)", ["stylize", "--model", "starry_night", str(PHOTO),
                                                            "--size", str(size), "-o", str(tmp / "v.png"),
                                                            "--runtime", "openvino"]) for size in (512, 1024)]
        workloads += [
            ("optimize 512 px, 20 iterations", ["optimize", str(PHOTO), str(PAINTING), "--size", "512",
                                                "--iterations", "20", *single, "-o", str(tmp / "o.png")]),
        ]
        for width in ("0.5", "1.0"):
            workloads.append((f"train 8 steps, width {width}", [
                "train", "--style", str(PAINTING), "--data", str(photos), "-o", str(tmp / f"t{width}.safetensors"),
                "--iterations", "8", "--width", width, *(["--compile", "off"] if compiled else [])]))
            if compiled:
                workloads.append((f"train 8 steps, width {width}, compiled", [
                    "train", "--style", str(PAINTING), "--data", str(photos),
                    "-o", str(tmp / f"c{width}.safetensors"), "--iterations", "8", "--width", width,
                    "--compile", "on"]))
        if knows("video", "--model", env) and make_clip(video_in):
            workloads.append(("video 640x360, 30 frames", ["video", str(video_in), "--model", "mosaic",
                                                           "-o", str(tmp / "v.mp4")]))
        print(f"{'workload':<36} {'peak MiB':>9} {'seconds':>8}")
        for name, command in workloads:
            peak, seconds, status = run(command, env)
            print(f"{name:<36} {peak:9.0f} {seconds:8.1f}" + ("  (failed)" if status else ""), flush=True)


def make_clip(path: Path, frames: int = 30) -> bool:
    """A 640x360 H.264 clip panning across the example photo (PyAV), or False without PyAV."""
    try:
        import av
        import numpy as np
        from PIL import Image
    except ImportError:
        return False
    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((960, 540)))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(photo[60:420, 8 * i: 8 * i + 640]), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return True


if __name__ == "__main__":
    main()
