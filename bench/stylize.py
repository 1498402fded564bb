"""Benchmark stylizing with a trained network: ms per image at 256, 512 and 1024 px (long side),
torch (fp32 and the automatic precision), onnxruntime (fp32) and OpenVINO (the automatic precision),
on the current device.

    .venv/bin/python bench/stylize.py [--model starry_night] [--repeats 7]

Medians of --repeats timed passes after two warm-up passes; the network pass only (no file I/O).
The first pass at each size is also shown for OpenVINO, which compiles the model for each input
shape then. Beside each size, torch's automatic-precision convolutions timed alone (what its pass
would cost if nothing else did), as a multiple of the same floor. Then the difference of each path
from fp32 torch. OpenVINO runs the export form it gets in use (export.RUNTIME_UPSAMPLING: the
upsampling as ConvTranspose); "ov phases" is OpenVINO on the other form, to check that choice on
each machine kind.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from impasto import Engine
from impasto.core.images import load_image, resize_long_side, to_tensor
from impasto.feedforward.export import RUNTIME_UPSAMPLING, export_onnx
from impasto.feedforward.model_files import find_model, read_metadata, style_weights
from impasto.feedforward.runners import OnnxRunner, OpenVinoRunner, TorchRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import conv_throughput, cpu_summary, own_convolutions, transformer_flops  # noqa: E402


def median_ms(runner, image, repeats: int) -> tuple[float, float]:
    """The median pass, and the first (which includes OpenVINO's compile for this shape)."""
    time.sleep(0.5)  # the previous runtime's worker threads stop spinning, not to slow this one
    start = time.perf_counter()
    runner(image)
    first = (time.perf_counter() - start) * 1000
    runner(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(image)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="starry_night")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    path = find_model(args.model)
    meta = read_metadata(path)
    photo = load_image(ROOT / "examples" / "tubingen.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        # each runtime gets the export form it runs in use (export.RUNTIME_UPSAMPLING)
        exports = {runtime: export_onnx(path, Path(tmp) / f"{runtime}.onnx", upsampling=form)
                   for runtime, form in RUNTIME_UPSAMPLING.items()}
        fp32, auto = Engine(args.device, "fp32"), Engine(args.device, "auto")
        style = style_weights(args.model, meta)  # the style's weights in a several-style model
        runners = {"torch fp32": TorchRunner(fp32.transformer(path)[0], fp32.default_placement.for_transformer(), style),
                   "torch auto": TorchRunner(auto.transformer(path)[0], auto.default_placement.for_transformer(), style),
                   "onnxruntime": OnnxRunner(exports["onnx"], style),
                   "openvino auto": OpenVinoRunner(exports["openvino"], style),
                   # the other export form under OpenVINO, to check the choice on each machine kind
                   "ov phases": OpenVinoRunner(exports["onnx"], style)}
        where = auto.default_placement
        print(f"model {path.name} (width {meta['width']}), device {where.device}, "
              f"auto precision = {str(where.dtype).replace('torch.', '')}, threads {torch.get_num_threads()}")
        print(cpu_summary())
        auto_precision = "bf16" if where.dtype == torch.bfloat16 else "fp32"
        print(f"{'size':>10} " + "".join(f"{name:>14}" for name in runners)
              + f"{'floor fp32':>12}{'floor auto':>12}{'torch x':>9}{'openvino x':>12}{'own convs':>11}"
                f"{'x floor':>9}{'ov first':>10}{'phases x':>10}"
                "   (ms per image, median; floor: the network's conv FLOPs at the 3x3 conv throughput "
                "measured just before the row; x: multiples of floor auto; own convs: torch auto's "
                "convolutions, each timed alone at its shapes; ov first: OpenVINO's first pass at "
                "this size, compile included; phases x: OpenVINO on onnxruntime's export form, the "
                "phase convolutions, as a multiple of floor auto)")
        for size in args.sizes:
            # Measured again for every row: a VM's speed drifts by several per cent within minutes.
            throughput = {p: conv_throughput(p, args.device) for p in ("fp32", auto_precision)}
            print("  3x3 conv throughput: " + ", ".join(f"{p} {g:.0f} GFLOP/s" for p, g in throughput.items()))
            image = to_tensor(resize_long_side(photo, size)).numpy()
            timed = [median_ms(runner, image, args.repeats) for runner in runners.values()]
            row = [median for median, _ in timed]
            flops = transformer_flops(float(meta["width"]), image.shape[3], image.shape[2])
            floor32 = flops / throughput["fp32"] / 1e6
            floor_auto = flops / throughput[auto_precision] / 1e6
            convs = own_convolutions(lambda: runners["torch auto"](image), args.repeats, where.synchronize) * 1000
            print(f"{image.shape[3]}x{image.shape[2]:<5}" + "".join(f"{ms:14.1f}" for ms in row)
                  + f"{floor32:12.1f}{floor_auto:12.1f}{row[1] / floor_auto:9.2f}{row[3] / floor_auto:12.2f}"
                  + f"{convs:11.1f}{convs / floor_auto:9.2f}{timed[3][1]:10.0f}{row[4] / floor_auto:10.2f}", flush=True)
        # Quality of the fast paths against fp32 torch, on the 0..255 scale of the saved image.
        image = to_tensor(resize_long_side(photo, 512)).numpy()
        reference = runners["torch fp32"](image)
        for name in ("torch auto", "onnxruntime", "openvino auto"):
            diff = torch.from_numpy(runners[name](image) - reference).abs() * 255
            print(f"{name} vs torch fp32 at 512 px: mean |diff| {diff.mean():.2f}, "
                  f"99th percentile {torch.quantile(diff.flatten()[::7], 0.99):.2f}, max {diff.max():.1f} (0..255)")


if __name__ == "__main__":
    main()
