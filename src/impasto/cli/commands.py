"""The `impasto` command: arguments generated from the config dataclasses, then the Python API.

Progress bars and --save-every are consumers of the API's Progress events; nothing here computes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import MISSING

from ..core.config import (
    UPSAMPLING_FORMS,
    AudioConfig,
    EvaluateConfig,
    OptimizeConfig,
    ReconstructConfig,
    ServeConfig,
    StylizeConfig,
    TrainConfig,
    VideoConfig,
)
from ..core.errors import Cancelled, ImpastoError, OptionError
from ..core.options import fields_of, value_kind

log = logging.getLogger("impasto")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise SystemExit(_fail(f"{message} (see '{self.prog} --help')", code=2))


def _fail(message: str, code: int = 1) -> int:
    print(f"impasto: error: {message}", file=sys.stderr)
    return code


# --- argument types: reject unreadable values with a one-line reason; limits are the config's ---

def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _list_of(parse):
    def parse_list(text: str) -> tuple:
        items = tuple(parse(part.strip()) for part in text.split(",") if part.strip())
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        return items
    return parse_list


def region_style(text: str) -> tuple[str, str]:
    from ..optimization.masks import parse_region_style

    try:
        return parse_region_style(text)
    except ImpastoError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


name_list = _list_of(str)


def add_config(parser: argparse.ArgumentParser, config_class: type, groups: tuple[str | None, ...] | None = None
               ) -> None:
    """One argument per option field of `config_class` (those in `groups`, if given). Defaults are
    left to the config: only options given on the command line reach it."""
    headings: dict[str, argparse._ArgumentGroup] = {}
    for f in fields_of(config_class):
        meta = f.metadata
        if not meta["cli"] or (groups is not None and meta["group"] not in groups):
            continue
        target = parser
        if meta["group"] not in (None, "common"):
            target = headings.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        flags = [meta["flag"] or "--" + f.name.replace("_", "-"), *meta["flags"]]
        kind = value_kind(f)
        default = f.default if f.default is not MISSING else None
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        quiet_default = shown is None or shown is False or shown == ""
        help_text = meta["help"] + ("" if quiet_default else f" (default {shown})")
        kwargs = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text.replace("%", "%%"))
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        if kind is bool:  # on by default: --name / --no-name
            kwargs["action"] = argparse.BooleanOptionalAction if default is True else "store_true"
        elif kind is tuple:  # (colour, style) pairs: one flag per region
            kwargs.update(action="append", type=region_style)
        elif meta["sequence"]:
            kwargs["type"] = _list_of({float: number, int: whole_number}.get(kind, str))
        else:
            kwargs["type"] = {float: number, int: whole_number}.get(kind, str)
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
        target.add_argument(*flags, **kwargs)


def _given(args: argparse.Namespace, config_class: type) -> dict:
    names = {f.name for f in fields_of(config_class)}
    return {key: value for key, value in vars(args).items() if key in names}


def _add_reporting(p: argparse.ArgumentParser, json_help: str | None = "print one JSON object at the end") -> None:
    if json_help:
        p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# --- the parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="impasto", description="Neural style transfer: paint a photo in the style of a painting.")
    parser.add_argument("--version", action="version", version=f"impasto {__import__('impasto').__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = commands.add_parser("optimize", help="Gatys et al.: optimize the pixels of an image")
    p.add_argument("content", help="the photo")
    p.add_argument("styles", nargs="*", metavar="style",
                   help="one or more paintings (none with --mask: see --region-style)")
    p.add_argument("-o", "--output", required=True, help="output image (.png or .jpg)")
    add_config(p, OptimizeConfig)
    _add_reporting(p)

    r = commands.add_parser("reconstruct", help="Gatys et al. Fig. 1: content or style reconstructions")
    r.add_argument("image")
    r.add_argument("--target", choices=["content", "style"], required=True)
    r.add_argument("--layers", type=name_list, default=None, help="L[,L...] (not needed with --grid)")
    r.add_argument("--grid", action="store_true", help="render the paper's layer sequence into one PNG")
    r.add_argument("-o", "--output", required=True, help="output image (.png or .jpg)")
    add_config(r, ReconstructConfig, groups=("common",))
    _add_reporting(r)

    t = commands.add_parser("train", help="Johnson et al.: train a style network")
    t.add_argument("--style", required=True, nargs="+",
                   help="the painting, or several: one network for all (conditional instance norm)")
    t.add_argument("--data", required=True, help="folder of training photos (searched recursively)")
    t.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    t.add_argument("--resume", nargs="?", const=True, default=False, metavar="CKPT",
                   help="continue from OUTPUT's checkpoint (or the one given)")
    add_config(t, TrainConfig)
    _add_reporting(t)

    s = commands.add_parser("stylize", help="one pass per photo: a trained style network, or any painting")
    s.add_argument("inputs", nargs="*", help="images, folders or glob patterns")
    s.add_argument("--model", default=None,
                   help="a shipped model's name, a .safetensors or (runtime openvino or onnx) .onnx file, "
                        "or MODEL:STYLE for one style of a several-style model (may be left out with --mix)")
    s.add_argument("--style", nargs="+", default=None, metavar="PAINTING",
                   help="any painting as the style, in one pass (Ghiasi et al.); several are blended by "
                        "--style-blend, and --style takes as many as it has weights (one without it): "
                        "what follows are the photos")
    s.add_argument("-o", "--output", required=True, help="an image file for one input, else a folder")
    s.add_argument("--cluster", metavar="ADDRESS", default=None,
                   help="stylize on a Ray cluster's workers: auto (a running cluster, else a local one), "
                        "ray://HOST:PORT or HOST:PORT; outputs mirror the input folders, existing ones are "
                        "skipped (a re-run resumes)")
    add_config(s, StylizeConfig)
    _add_reporting(s)

    m = commands.add_parser("models", help="list shipped and user style models")
    m.add_argument("--json", action="store_true")

    e = commands.add_parser("export", help="export a style model to ONNX")
    e.add_argument("model")
    e.add_argument("--onnx", required=True, metavar="OUT.onnx")
    e.add_argument("--upsampling", choices=UPSAMPLING_FORMS, default="phases",
                   help="how the upsampling layers are written, the same function either way: phases "
                   "(four small convolutions; fastest under onnxruntime) or transposed (one ConvTranspose; "
                   "fastest under OpenVINO, which runs .onnx models on a CPU) (default %(default)s)")

    v = commands.add_parser("evaluate", help="Johnson et al.'s table: network vs. L-BFGS on the same objective")
    v.add_argument("images", nargs="+")
    v.add_argument("--model", required=True, help="a shipped model's name or a .safetensors file, "
                   "or MODEL:STYLE for one style of a several-style model")
    v.add_argument("--style", required=True)
    v.add_argument("--csv", default="evaluation.csv", help="also write the table here (default %(default)s)")
    add_config(v, EvaluateConfig)
    _add_reporting(v, json_help=None)

    d = commands.add_parser("video", help="stylize a video clip with a style network, without flicker")
    d.add_argument("input", help="the clip (mp4, mov, mkv, webm, animated gif, ...)")
    d.add_argument("-o", "--output", required=True, help="output clip (.mp4, .mov, .mkv, .webm or .gif)")
    d.add_argument("--model", default=None, help="a shipped model's name or a .safetensors file, "
                   "or MODEL:STYLE for one style of a several-style model (may be left out with --mix)")
    add_config(d, VideoConfig)
    _add_reporting(d)

    w = commands.add_parser("serve", help="the local web app: upload a photo, pick a painting, watch it paint")
    add_config(w, ServeConfig)

    a = commands.add_parser("audio", help="Ulyanov & Lebedev: style transfer or texture synthesis for sound")
    a.add_argument("clips", nargs="*", metavar="CONTENT STYLE",
                   help="the content clip, then the style clip (WAV, FLAC, OGG; MP3 where libsndfile reads it)")
    a.add_argument("--texture", metavar="STYLE", help="synthesise a texture of STYLE instead (no content)")
    a.add_argument("-o", "--output", required=True, help="output sound (.wav, .flac or .ogg)")
    add_config(a, AudioConfig)
    _add_reporting(a)
    return parser


# --- the commands -------------------------------------------------------------------------------

def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return _fail(f"interrupted; {_left_behind(args)}", code=130)


def _left_behind(args: argparse.Namespace) -> str:
    """What an interrupted command has and has not written, so the message is true."""
    if args.command in ("optimize", "reconstruct"):
        extra = " (intermediate images OUTPUT-iterNNNN written so far are kept)" \
            if getattr(args, "save_every", 0) else ""
        return f"'{args.output}' was not written{extra}"
    if args.command == "train":
        from ..feedforward.train import checkpoint_path, model_path

        ckpt = args.resume if isinstance(args.resume, str) else checkpoint_path(model_path(args.output))
        return (f"no model was written; the last checkpoint, if one was reached, is kept in "
                f"'{ckpt}' (continue with --resume)")
    if args.command == "stylize":
        return f"images finished before it are in '{args.output}', the rest were not written"
    if args.command == "evaluate":
        return f"'{args.csv}' was not written"
    if args.command in ("audio", "video"):
        return f"'{args.output}' was not written"
    return "nothing was written"


def _progress(args: argparse.Namespace):
    from .terminal import ProgressBars

    enabled = not getattr(args, "quiet", False) and not os.environ.get("CI")
    return ProgressBars() if enabled else None


def _with_bars(args: argparse.Namespace, call):
    """call(progress) with the terminal's bars as the progress consumer (none with --quiet)."""
    bars = _progress(args)
    try:
        return call(bars)
    finally:
        if bars is not None:
            bars.close()


def _engine():
    from ..api import default_engine

    return default_engine()


def _run(args: argparse.Namespace, call) -> int:
    """call(engine, progress) with the terminal's bars as the progress consumer (none with
    --quiet); then the Result: its summary with --json, else its line. Inputs that failed on their
    own (a batch goes on past them) get a line each and exit code 1."""
    result = _with_bars(args, lambda bars: call(_engine(), bars))
    failures = getattr(result, "failures", None) or []
    for failure in failures:
        _fail(failure["error"])
    if getattr(args, "json", False):
        print(json.dumps(result.summary()))
    elif not failures or getattr(result, "outputs", None):
        print(result.line())
    if failures:
        total = len(failures) + len(getattr(result, "outputs", []))
        if total == 1:
            return 1  # its one line is above
        return _fail(f"{len(failures)} of {total} input(s) failed"
                     + ("; nothing was written" if not getattr(result, "outputs", None) else ""))
    return 0


def _optimize(args: argparse.Namespace) -> int:
    return _run(args, lambda engine, bars: engine.run_optimization(
        args.content, args.styles, output=args.output, progress=bars, **_given(args, OptimizeConfig)))


def _reconstruct(args: argparse.Namespace) -> int:
    options = _given(args, ReconstructConfig)
    if args.grid and args.layers:
        return _fail("--grid renders the paper's own layer sequence: give it or --layers, not both", code=2)
    if args.grid:
        return _run(args, lambda engine, bars: engine.reconstruction_grid(
            args.image, args.target, output=args.output, progress=bars, **options))
    if not args.layers:
        return _fail("reconstruct needs --layers L[,L...] or --grid", code=2)
    return _run(args, lambda engine, bars: engine.reconstruct(
        args.image, args.target, list(args.layers), output=args.output, progress=bars, **options))


def _train(args: argparse.Namespace) -> int:
    style = args.style if len(args.style) > 1 else args.style[0]
    return _run(args, lambda engine, bars: engine.train(
        style, args.data, args.output, resume=args.resume, progress=bars, **_given(args, TrainConfig)))


def _stylize(args: argparse.Namespace) -> int:
    style = None
    if args.style:
        count = len(getattr(args, "style_blend", None) or [None])
        if len(args.style) < count:
            raise ImpastoError(f"--style-blend has {count} weights but --style names {len(args.style)} painting(s)")
        style, args.inputs = args.style[:count], args.style[count:] + args.inputs
        if args.cluster:
            raise ImpastoError("--style runs on this machine; --cluster takes a trained model (--model)")
    if not args.inputs:
        raise ImpastoError("name the photos to stylize")
    if style is not None or getattr(args, "mask", None):
        return _run(args, lambda engine, bars: engine.stylize_files(
            args.inputs, args.model, args.output, progress=bars,
            style=None if style is None else style if len(style) > 1 else style[0], **_given(args, StylizeConfig)))
    if args.cluster:
        from ..cluster import stylize

        return _run(args, lambda engine, bars: stylize(args.inputs, args.model, args.output, address=args.cluster,
                                                       progress=bars, **_given(args, StylizeConfig)))
    return _run(args, lambda engine, bars: engine.stylize_files(
        args.inputs, args.model, args.output, progress=bars, **_given(args, StylizeConfig)))


def _models(args: argparse.Namespace) -> int:
    from ..feedforward.model_files import list_models, user_models_dir

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


def _export(args: argparse.Namespace) -> int:
    return _run(args, lambda engine, bars: engine.export(args.model, args.onnx, upsampling=args.upsampling))


def _evaluate(args: argparse.Namespace) -> int:
    code = _run(args, lambda engine, bars: engine.evaluate(
        args.model, args.style, args.images, csv_path=args.csv, progress=bars, **_given(args, EvaluateConfig)))
    print(f"wrote {args.csv}", file=sys.stderr)
    return code


def _video(args: argparse.Namespace) -> int:
    return _run(args, lambda engine, bars: engine.video(
        args.input, args.output, args.model, progress=bars, **_given(args, VideoConfig)))


def _serve(args: argparse.Namespace) -> int:
    from ..core.options import configure

    try:
        from ..serve.app import secured, serve
    except ImportError as exc:
        return _fail(f"the web app needs its extra: pip install 'impasto[serve]' ({exc.name} is missing)")
    config = secured(configure(ServeConfig, **_given(args, ServeConfig)))
    shown = f"[{config.host}]" if ":" in config.host else config.host
    url = f"http://{shown}:{config.port}/" + (f"?token={config.token}" if config.token else "")
    print(f"impasto: serving on {url} (API docs at /docs); Ctrl-C to stop", file=sys.stderr)
    serve(config)
    return 0


def _audio(args: argparse.Namespace) -> int:
    if args.texture is not None and args.clips:
        return _fail("--texture takes the style alone: give no CONTENT STYLE clips with it", code=2)
    if args.texture is None and len(args.clips) != 2:
        return _fail("audio needs CONTENT STYLE (two clips), or --texture STYLE", code=2)
    content, style = (None, args.texture) if args.texture is not None else args.clips
    return _run(args, lambda engine, bars: engine.audio(
        content, style, progress=bars, output=args.output, **_given(args, AudioConfig)))


COMMANDS = {"optimize": _optimize, "reconstruct": _reconstruct, "train": _train, "stylize": _stylize,
            "models": _models, "export": _export, "evaluate": _evaluate, "audio": _audio,
            "video": _video, "serve": _serve}


def main(argv: list[str] | None = None) -> int:
    if not log.handlers:  # our messages only; libraries' loggers stay quiet
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("impasto: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    smaller = "a smaller --image-size or --batch-size" if argv and "train" in argv[:1] else "a smaller --size"
    try:
        return run(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 0
    except OptionError as exc:
        return _fail(exc.render("--" + exc.option.replace("_", "-")))
    except Cancelled as exc:
        return _fail(str(exc), code=130)
    except ImpastoError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:  # before a command started
        return _fail("interrupted; nothing was written", code=130)
    except MemoryError:
        return _fail(f"not enough memory for this run; try {smaller}")
    except RuntimeError as exc:
        if "can't allocate memory" in str(exc).lower():
            return _fail(f"not enough memory for this run; try {smaller}")
        if "out of memory" in str(exc).lower():
            return _fail(f"out of memory on the device; try {smaller} or --device cpu")
        if os.environ.get("IMPASTO_DEBUG"):
            raise
        return _fail(f"internal error: {str(exc).splitlines()[0]} (set IMPASTO_DEBUG=1 for details)")


if __name__ == "__main__":
    sys.exit(main())
