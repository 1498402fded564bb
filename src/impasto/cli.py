"""The `impasto` command: parses arguments and calls the Python API, nothing more."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from .colour import PRESERVE_COLOR
from .errors import ImpastoError
from .optimize import OptimizeConfig

log = logging.getLogger("impasto")
DEFAULTS = OptimizeConfig()


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise SystemExit(_fail(f"{message} (see '{self.prog} --help')", code=2))


def _fail(message: str, code: int = 1) -> int:
    print(f"impasto: error: {message}", file=sys.stderr)
    return code


# --- argument types: reject bad values with a one-line reason -----------------------------------

def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def float_list(text: str) -> tuple[float, ...]:
    return tuple(non_negative_float(part) for part in text.split(","))


def region_style(text: str) -> tuple[str, str]:
    from .masks import parse_region_style

    try:
        return parse_region_style(text)
    except ImpastoError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def name_list(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError("give at least one layer name")
    return names


# --- the parser ---------------------------------------------------------------------------------

def _add_common(p: argparse.ArgumentParser, defaults: OptimizeConfig) -> None:
    """Options shared by optimize and reconstruct."""
    p.add_argument("-o", "--output", required=True, help="output image (.png or .jpg)")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default=defaults.optimizer)
    p.add_argument("--iterations", type=non_negative_int, default=defaults.iterations)
    p.add_argument("--learning-rate", "--lr", type=positive_float, default=defaults.learning_rate,
                   help="Adam step size, in 0..1 pixel units (default %(default)s)")
    p.add_argument("--init", default=defaults.init, help="noise | content | style | FILE (default noise)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--size", type=non_negative_int, default=defaults.size,
                   help="long side of the output in pixels (default %(default)s)")
    p.add_argument("--tv-weight", type=non_negative_float, default=defaults.tv_weight)
    p.add_argument("--pooling", choices=["max", "avg"], default=defaults.pooling)
    p.add_argument("--network", choices=["vgg16", "vgg19"], default=defaults.network)
    p.add_argument("--weights", default=None, help="local VGG weights (.safetensors or torchvision .pth)")
    p.add_argument("--device", default=defaults.device, help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=defaults.precision)
    p.add_argument("--save-every", type=non_negative_int, default=0, metavar="N",
                   help="also write OUT-iterNNNN images every N iterations")
    p.add_argument("--json", action="store_true", help="print one JSON object with the losses at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from .reconstruct import ReconstructConfig

    parser = Parser(prog="impasto", description="Neural style transfer: paint a photo in the style of a painting.")
    parser.add_argument("--version", action="version", version=f"impasto {__import__('impasto').__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = commands.add_parser("optimize", help="Gatys et al.: optimize the pixels of an image")
    p.add_argument("content", help="the photo")
    p.add_argument("styles", nargs="*", metavar="style",
                   help="one or more paintings (none with --mask: see --region-style)")
    _add_common(p, DEFAULTS)
    p.add_argument("--content-weight", type=non_negative_float, default=DEFAULTS.content_weight,
                   help="alpha (default %(default)s)")
    p.add_argument("--style-weight", type=non_negative_float, default=DEFAULTS.style_weight,
                   help="beta (default %(default)s)")
    p.add_argument("--content-layers", type=name_list, default=DEFAULTS.content_layers)
    p.add_argument("--style-layers", type=name_list, default=DEFAULTS.style_layers)
    p.add_argument("--style-layer-weights", type=float_list, default=None, metavar="W[,W...]",
                   help="w_l per style layer (normalised to sum 1; default equal)")
    p.add_argument("--style-blend", type=float_list, default=None, metavar="B[,B...]",
                   help="weight per style image (normalised to sum 1; default equal)")
    p.add_argument("--style-scale", type=positive_float, default=DEFAULTS.style_scale,
                   help="style image size relative to --size (default %(default)s)")
    c = p.add_argument_group("control (Gatys et al. 2017)")
    c.add_argument("--preserve-color", choices=PRESERVE_COLOR, default=DEFAULTS.preserve_color,
                   help="luminance: transfer luminance only; histogram: give the painting the photo's "
                        "colours first (default none)")
    c.add_argument("--mask", default=None, help="image whose colours mark regions (with --region-style)")
    c.add_argument("--region-style", dest="region_styles", action="append", type=region_style, default=[],
                   metavar="COLOUR=STYLE", help="style for the mask's COLOUR (#rrggbb, r,g,b, grey "
                   "level or name); repeat per region. Regions without one keep content only")
    c.add_argument("--keep-unstyled", action="store_true",
                   help="paste the photo back into regions without a style")
    c.add_argument("--scales", type=non_negative_int, default=DEFAULTS.scales,
                   help="coarse-to-fine scales, each twice the previous (default: 1 up to 512 px, "
                        "one more per doubling)")
    c.add_argument("--tile", type=non_negative_int, default=DEFAULTS.tile, metavar="SIZE",
                   help="optimize in SIZE px tiles to bound memory (default 0: whole image)")
    c.add_argument("--tile-overlap", type=non_negative_int, default=DEFAULTS.tile_overlap,
                   help="pixels shared by neighbouring tiles (default SIZE/4)")
    c.add_argument("--tile-passes", type=non_negative_int, default=DEFAULTS.tile_passes,
                   help="passes over a shifted tile grid per scale (default %(default)s)")

    r = commands.add_parser("reconstruct", help="Gatys et al. Fig. 1: content or style reconstructions")
    r.add_argument("image")
    r.add_argument("--target", choices=["content", "style"], required=True)
    r.add_argument("--layers", type=name_list, default=None, help="L[,L...] (not needed with --grid)")
    r.add_argument("--grid", action="store_true", help="render the paper's layer sequence into one PNG")
    _add_common(r, ReconstructConfig())

    _add_fast_commands(commands)
    return parser


def _add_fast_commands(commands) -> None:
    """train, stylize, models, export, evaluate: Johnson et al.'s feed-forward networks."""
    from .stylize import StylizeConfig
    from .train import TrainConfig

    t, tdef = commands.add_parser("train", help="Johnson et al.: train a style network"), TrainConfig()
    t.add_argument("--style", required=True, help="the painting")
    t.add_argument("--data", required=True, help="folder of training photos (searched recursively)")
    t.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    t.add_argument("--iterations", type=non_negative_int, default=tdef.iterations)
    t.add_argument("--epochs", type=positive_float, default=None, help="overrides --iterations")
    t.add_argument("--batch-size", type=non_negative_int, default=tdef.batch_size)
    t.add_argument("--image-size", type=non_negative_int, default=tdef.image_size)
    t.add_argument("--style-size", type=non_negative_int, default=tdef.style_size)
    t.add_argument("--lr", type=positive_float, default=tdef.lr)
    t.add_argument("--content-weight", type=non_negative_float, default=tdef.content_weight)
    t.add_argument("--style-weight", type=non_negative_float, default=tdef.style_weight)
    t.add_argument("--tv-weight", type=non_negative_float, default=tdef.tv_weight)
    t.add_argument("--content-layers", type=name_list, default=tdef.content_layers)
    t.add_argument("--style-layers", type=name_list, default=tdef.style_layers)
    t.add_argument("--width", type=positive_float, default=tdef.width, help="channel multiplier (0.5: half width)")
    t.add_argument("--norm", choices=["instance", "batch"], default=tdef.norm)
    t.add_argument("--upsample", choices=["nearest", "deconv"], default=tdef.upsample)
    t.add_argument("--seed", type=int, default=tdef.seed)
    t.add_argument("--checkpoint-every", type=non_negative_int, default=tdef.checkpoint_every)
    t.add_argument("--resume", nargs="?", const=True, default=False, metavar="CKPT",
                   help="continue from OUTPUT's checkpoint (or the one given)")
    t.add_argument("--network", choices=["vgg16", "vgg19"], default=tdef.network)
    t.add_argument("--weights", default=None)
    t.add_argument("--device", default=tdef.device)
    t.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=tdef.precision)
    t.add_argument("--json", action="store_true")
    t.add_argument("--quiet", action="store_true")

    s, sdef = commands.add_parser("stylize", help="apply a trained style network"), StylizeConfig()
    s.add_argument("inputs", nargs="+", help="images, folders or glob patterns")
    s.add_argument("--model", required=True, help="a shipped model's name, a .safetensors or (with --runtime onnx) .onnx file")
    s.add_argument("-o", "--output", required=True, help="an image file for one input, else a folder")
    s.add_argument("--size", type=non_negative_int, default=sdef.size, help="rescale the long side first")
    s.add_argument("--preserve-color", choices=PRESERVE_COLOR, default=sdef.preserve_color)
    s.add_argument("--runtime", choices=["torch", "onnx"], default=sdef.runtime)
    s.add_argument("--device", default=sdef.device)
    s.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=sdef.precision)
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true")

    m = commands.add_parser("models", help="list shipped and user style models")
    m.add_argument("--json", action="store_true")

    e = commands.add_parser("export", help="export a style model to ONNX")
    e.add_argument("model")
    e.add_argument("--onnx", required=True, metavar="OUT.onnx")

    v = commands.add_parser("evaluate", help="Johnson et al.'s table: network vs. L-BFGS on the same objective")
    v.add_argument("images", nargs="+")
    v.add_argument("--model", required=True)
    v.add_argument("--style", required=True)
    v.add_argument("--iterations", type=name_list, default=("50", "100", "300"), metavar="N[,N...]")
    v.add_argument("--size", type=non_negative_int, default=256)
    v.add_argument("--csv", default="evaluation.csv")
    v.add_argument("--device", default="auto")
    v.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    v.add_argument("--quiet", action="store_true")


_OPTION_FIELDS = ("optimizer", "iterations", "learning_rate", "init", "seed", "size", "tv_weight",
                  "pooling", "network", "weights", "device", "precision", "save_every")


def _config(args: argparse.Namespace, cls: type, extra: tuple[str, ...] = ()) -> OptimizeConfig:
    values = {name: getattr(args, name) for name in _OPTION_FIELDS + extra}
    return cls(progress=not args.quiet and not os.environ.get("CI"), **values)



def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress = not getattr(args, "quiet", False) and not os.environ.get("CI")
    if args.command in _FAST:
        return _FAST[args.command](args, progress)
    if args.command == "optimize":
        from .optimize import run_optimization

        config = _config(args, OptimizeConfig, ("content_weight", "style_weight", "content_layers",
                                                "style_layers", "style_layer_weights", "style_blend",
                                                "style_scale", "preserve_color", "mask", "keep_unstyled",
                                                "scales", "tile", "tile_overlap", "tile_passes"))
        config.region_styles = tuple(args.region_styles)
        result = run_optimization(args.content, args.styles, config, output=args.output)
        _report(args, result.summary(args.output))
    else:
        from .reconstruct import ReconstructConfig, reconstruct, reconstruction_grid

        config = _config(args, ReconstructConfig)
        if args.grid:
            grid = reconstruction_grid(args.image, args.target, config, output=args.output)
            _report(args, {"output": args.output, "width": grid.width, "height": grid.height})
        else:
            if not args.layers:
                return _fail("reconstruct needs --layers L[,L...] or --grid", code=2)
            result = reconstruct(args.image, args.target, list(args.layers), config, output=args.output)
            _report(args, result.summary(args.output))
    return 0


def _train(args: argparse.Namespace, progress: bool) -> int:
    from .train import TrainConfig, train

    fields = [f for f in TrainConfig.__dataclass_fields__ if f != "progress"]
    config = TrainConfig(progress=progress, **{f: getattr(args, f) for f in fields})
    result = train(args.style, args.data, args.output, config, resume=args.resume)
    summary = {"output": str(result.output), "iterations": result.iterations, "seconds": result.seconds,
               "skipped_files": result.skipped_files, "final_losses": result.final_losses}
    print(json.dumps(summary) if args.json else
          f"wrote {result.output} ({result.iterations} iterations in {result.seconds:.0f} s; "
          f"loss curve {result.output.with_suffix('.loss.png')})")
    return 0


def _stylize(args: argparse.Namespace, progress: bool) -> int:
    from .stylize import StylizeConfig, stylize_files

    config = StylizeConfig(size=args.size or None, preserve_color=args.preserve_color, runtime=args.runtime,
                           device=args.device, precision=args.precision, progress=progress)
    summary = stylize_files(args.inputs, args.model, args.output, config)
    print(json.dumps(summary) if args.json else
          f"wrote {len(summary['outputs'])} image(s) to {args.output} ({summary['ms_per_image']:.0f} ms per image)")
    return 0


def _models(args: argparse.Namespace, progress: bool) -> int:
    from .models import list_models, user_models_dir

    found = list_models()
    if args.json:
        print(json.dumps(found))
        return 0
    for m in found:
        print(f"{m['name']:<20} {m['source']:<8} style={m['style']} iterations={m['iterations']} "
              f"width={m['width']} {m['path']}")
    if not found:
        print("no models found")
    print(f"(user models go in {user_models_dir()})", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace, progress: bool) -> int:
    from .export import export_onnx

    print(f"wrote {export_onnx(args.model, args.onnx)}")
    return 0


def _evaluate(args: argparse.Namespace, progress: bool) -> int:
    from .evaluate import evaluate, format_table

    try:
        iterations = [int(n) for n in args.iterations]
    except ValueError:
        return _fail("--iterations takes whole numbers, e.g. 50,100,300", code=2)
    rows = evaluate(args.model, args.style, args.images, iterations, args.size, args.csv, args.device,
                    args.precision, progress=progress)
    print(format_table(rows))
    print(f"wrote {args.csv}", file=sys.stderr)
    return 0


_FAST = {"train": _train, "stylize": _stylize, "models": _models, "export": _export, "evaluate": _evaluate}


def _report(args: argparse.Namespace, summary: dict) -> None:
    if args.json:
        print(json.dumps(summary))
    else:
        extra = f", total loss {summary['total_loss']:.4g}" if "total_loss" in summary else ""
        print(f"wrote {summary['output']} ({summary['width']}x{summary['height']}{extra})")


def main(argv: list[str] | None = None) -> int:
    if not log.handlers:  # our messages only; libraries' loggers stay quiet
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("impasto: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        return run(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 0
    except ImpastoError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted; nothing was written", code=130)
    except MemoryError:
        return _fail("out of memory; try a smaller --size")
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            return _fail("out of memory on the device; try a smaller --size or --device cpu")
        if os.environ.get("IMPASTO_DEBUG"):
            raise
        return _fail(f"internal error: {str(exc).splitlines()[0]} (set IMPASTO_DEBUG=1 for details)")


if __name__ == "__main__":
    sys.exit(main())
