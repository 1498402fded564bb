"""What this machine can do: the floor every benchmark compares its workload with.

    .venv/bin/python bench/floor.py            # prints the table below on the machine it runs on

- the CPU (or GPU) model, and its bf16 / AMX flags;
- dense 3x3 convolution throughput (GFLOP/s, forward) in fp32 and bf16 (channels_last) at the
  channel counts VGG uses, each at the size it has in a 512 px VGG pass;
- the bare network passes each workload is made of: VGG16 forward+backward to relu5_1 (one Gatys
  iteration's network), a training step's passes (transformation network forward+backward, VGG to
  relu4_3 forward+backward on its output, VGG to relu2_2 forward on the photos), and the
  transformation network's forward (stylize), whose floor is also given as its convolutions' FLOPs
  at the measured convolution throughput.

Other benches import these functions and print their workloads as multiples of these floors,
measured in the same run. Times are medians of `repeats` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from impasto.api import Engine
from impasto.core.placement import Placement
from impasto.nets.transformer import TransformerNet

VGG_CONVS = [(64, 256), (128, 128), (256, 64), (512, 32)]   # (channels, side) in a 512 px pass


def cpu_summary() -> str:
    """The processor, its bf16 features, threads and torch version, in one line."""
    name = platform.processor() or "unknown CPU"
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name in ("", "x86_64", "unknown CPU"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    bf16 = [f for f in ("amx_bf16", "amx_tile", "avx512_bf16") if f in flags]
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{name}; bf16 flags: {', '.join(bf16) or 'none'}; {torch.get_num_threads()} threads; "
            f"torch {torch.__version__}{gpu}")


def timed(fn, repeats: int = 5, sync=lambda: None) -> float:
    """Median seconds of fn() over `repeats` runs after one warm-up."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def conv_gflops(channels: int, side: int, precision: str, device: str = "auto", repeats: int = 5) -> float:
    place = Placement.resolve(device, precision)
    conv = place.module(nn.Conv2d(channels, channels, 3, padding=1, bias=False)).requires_grad_(False)
    x = place.tensor(torch.rand(1, channels, side, side)).to(place.dtype)
    with torch.no_grad():
        seconds = timed(lambda: conv(x), repeats, place.synchronize)
    return 2 * channels * channels * 9 * side * side / seconds / 1e9


def conv_throughput(precision: str, device: str = "auto", repeats: int = 5) -> float:
    """GFLOP/s of a 3x3 convolution, the FLOP-weighted mean over VGG's channel counts."""
    flops = [2 * c * c * 9 * s * s for c, s in VGG_CONVS]
    seconds = [f / (conv_gflops(c, s, precision, device, repeats) * 1e9) for f, (c, s) in zip(flops, VGG_CONVS)]
    return sum(flops) / sum(seconds) / 1e9


def bare_vgg_pass(width: int, height: int, precision: str, device: str = "auto", batch: int = 1,
                  last: str = "relu5_1", backward: bool = True, engine: Engine | None = None):
    """fn() running the bare VGG16 forward (+backward) to `last` once, as impasto places it (on
    `engine`'s loaded network if given, so no second copy of the weights), synchronised."""
    engine = engine or Engine(device, precision)
    place = engine.placement(device, precision)
    vgg = engine.vgg([last], placement=place)
    x = torch.rand(batch, 3, height, width, device=place.device, requires_grad=backward)

    def run() -> None:
        if backward:
            vgg(x, [last])[last].float().sum().backward()
        else:
            with torch.no_grad():
                vgg(x, [last])
        place.synchronize()
    return run


def vgg_pass(width: int, height: int, precision: str, device: str = "auto", batch: int = 1,
             last: str = "relu5_1", backward: bool = True, repeats: int = 5) -> float:
    """Seconds of the bare VGG16 forward (+backward) to `last`, as impasto places it."""
    return timed(bare_vgg_pass(width, height, precision, device, batch, last, backward), repeats)


def transformer_forward(width_mult: float, width: int, height: int, precision: str, device: str = "auto",
                        batch: int = 1, backward: bool = False, repeats: int = 5) -> float:
    """Seconds of the transformation network's forward (and backward), as stylize or train run it."""
    place = Placement.resolve(device, precision)
    net = place.module(TransformerNet(width_mult), cast=False)
    x = place.tensor(torch.rand(batch, 3, height, width))

    def run() -> None:
        with place.autocast():
            y = net(x)
        if backward:
            y.float().sum().backward()
    if backward:
        net.train()
        return timed(run, repeats, place.synchronize)
    net.eval()
    with torch.inference_mode():
        return timed(run, repeats, place.synchronize)


def transformer_flops(width_mult: float, width: int, height: int) -> float:
    """FLOPs of the transformation network's convolutions on one image (multiply-add = 2)."""
    net = TransformerNet(width_mult)
    total, hooks = [0.0], []

    def count(module, inputs, output) -> None:
        k = module.kernel_size[0] * module.kernel_size[1]
        total[0] += 2 * module.in_channels * module.out_channels * k * output.shape[2] * output.shape[3] \
            // (module.groups or 1)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(m.register_forward_hook(count))
    # With gradients on, the textbook layers run (the inference path's rewrites call F.conv2d
    # directly): the floor counts the network's own convolutions, not the rewritten ones.
    with torch.enable_grad():
        net.eval()(torch.rand(1, 3, height, width))
    for h in hooks:
        h.remove()
    return total[0]


def own_convolutions(run, repeats: int = 5, sync=lambda: None) -> float:
    """Seconds of the convolutions that run() calls, each timed alone on its own inputs (the
    inference rewrites' forms included): what the pass would take if nothing but its
    convolutions cost time. It splits a pass's distance from the dense-rate floor into the
    convolutions' own shapes (few channels, small maps) and everything else."""
    from torch.utils._python_dispatch import TorchDispatchMode

    calls = []
    convolutions = (torch.ops.aten.convolution.default, torch.ops.aten.conv2d.default)  # inference mode sees conv2d

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in convolutions:
                calls.append((func, args, kwargs or {}))
            return func(*args, **(kwargs or {}))

    with torch.inference_mode(), Record():
        run()
    with torch.inference_mode():
        return sum(timed(lambda c=c: c[0](*c[1], **c[2]), repeats, sync) for c in calls)


def train_floor(width_mult: float, precision: str, device: str = "auto", batch: int = 4, size: int = 256,
                repeats: int = 3) -> dict[str, float]:
    """The bare passes of one training step, in seconds, and their sum."""
    passes = {
        "transformer fwd+bwd": transformer_forward(width_mult, size, size, precision, device, batch, True, repeats),
        "vgg fwd+bwd relu4_3": vgg_pass(size, size, precision, device, batch, "relu4_3", True, repeats),
        "vgg fwd relu2_2": vgg_pass(size, size, precision, device, batch, "relu2_2", False, repeats),
    }
    passes["sum"] = sum(passes.values())
    return passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(cpu_summary())
    print("\n3x3 convolution, forward, GFLOP/s (fp32 contiguous, bf16 channels_last)")
    print(f"{'channels':>8} {'side':>5} {'fp32':>8} {'bf16':>8}")
    for c, s in VGG_CONVS:
        print(f"{c:8d} {s:5d} {conv_gflops(c, s, 'fp32', args.device, args.repeats):8.0f} "
              f"{conv_gflops(c, s, 'bf16', args.device, args.repeats):8.0f}", flush=True)
    print("\nbare passes, seconds (median)")
    for precision in ("fp32", "bf16"):
        print(f"{precision}: VGG16 fwd+bwd to relu5_1 at 512x384: "
              f"{vgg_pass(512, 384, precision, args.device, repeats=args.repeats):.3f}", flush=True)
        for width in (1.0, 0.5):
            passes = train_floor(width, precision, args.device)
            print(f"{precision}: training step passes, width {width}, batch 4, 256 px: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in passes.items()), flush=True)
        forward = transformer_forward(0.5, 512, 384, precision, args.device, repeats=args.repeats)
        flops = transformer_flops(0.5, 512, 384)
        print(f"{precision}: transformation network (width 0.5) forward at 512x384: {forward * 1000:.1f} ms; "
              f"its conv FLOPs at the measured conv throughput: "
              f"{flops / (conv_throughput(precision, args.device, args.repeats) * 1e9) * 1000:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
