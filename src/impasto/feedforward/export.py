"""Export a style network to ONNX with dynamic batch, height and width.

A several-style network exported as a whole takes its style weights as a second input, and its
style names travel in the file's metadata (`impasto_style_names`), so that it can be mixed by name;
named by one of its styles (MODEL:STYLE, or a shipped style's name), that style is built into the
graph, which then takes the image alone, like a one-style network."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..core.config import UPSAMPLING_FORMS
from ..core.errors import ImpastoError, OutputError
from ..core.files import atomic_path, cache_dir, check_writable, file_sha256, refuse_overwriting_inputs
from ..core.results import Result
from .model_files import find_model, load_model, named_style, style_names, style_weights

STYLE_NAMES_KEY = "impasto_style_names"


# The form each runtime runs fastest (bench/stylize.py measures both: its "phases x" column).
RUNTIME_UPSAMPLING = {"onnx": "phases", "openvino": "transposed"}


def export_onnx(model: str | os.PathLike, output: str | os.PathLike, opset: int = 17,
                select_style: bool = True, upsampling: str = "phases") -> Path:
    """Write `model` as ONNX. With `select_style`, a name that picks one style of a several-style
    model builds that style in; otherwise the graph keeps the style input. `upsampling`: how the
    nearest-upsampling layers are written (UpsampleConv.export_form), "phases" or "transposed"; the
    same function either way."""
    output = Path(output)
    if upsampling not in UPSAMPLING_FORMS:
        raise ImpastoError(f"unknown upsampling form {upsampling!r}; use {' or '.join(UPSAMPLING_FORMS)}")
    if output.suffix != ".onnx":
        raise ImpastoError(f"ONNX output '{output}' must end in .onnx")
    if output.is_dir():
        raise OutputError(f"ONNX output '{output}' is a folder")
    check_writable(output.parent)
    refuse_overwriting_inputs([output], [find_model(model)])
    net, meta = load_model(model)
    chosen = select_style and net.styles > 1 and named_style(model, meta) is not None
    fixed = style_weights(model, meta) if chosen else None  # one-hot for that style
    names = json.dumps(style_names(meta)) if net.styles > 1 and fixed is None else None
    write_onnx(net, output, fixed, upsampling, opset, names)
    return output


def write_onnx(net, output: Path, fixed: list[float] | None = None, upsampling: str = "phases", opset: int = 17,
               names: str | None = None) -> None:
    """Trace a TransformerNet to ONNX at `output` (atomically). A several-style network takes its
    style weights (1, styles) as a second input "style", unless `fixed` builds them in; `names`
    (a JSON list) travel in the file's metadata."""
    import torch

    from ..nets.transformer import UpsampleConv

    class Core(torch.nn.Module):
        """The network without its Python-side padding: ONNX inputs must have sides divisible
        by 4 (the runners pad, as TransformerNet.forward does); `fixed` style weights, if given,
        become constants of the graph."""

        def __init__(self, net: torch.nn.Module, fixed: torch.Tensor | None):
            super().__init__()
            self.net, self.fixed = net, fixed

        def forward(self, image: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
            return self.net.transform(image, self.fixed if self.fixed is not None else style)

    for layer in net.modules():
        if isinstance(layer, UpsampleConv):
            layer.export_form = upsampling
    core = Core(net.float().eval(), None if fixed is None else torch.tensor([fixed]))
    axes = {0: "batch", 2: "height", 3: "width"}
    takes_style = net.styles > 1 and fixed is None
    example = (torch.rand(1, 3, 64, 64),) + ((torch.full((1, net.styles), 1 / net.styles),) if takes_style else ())
    input_names = ["image", "style"][:len(example)]
    with atomic_path(output) as tmp:
        # The TorchScript exporter (no onnxscript needed) warns about its own deprecation and about
        # tracing; tests check the dynamic-shape export against torch at several sizes.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(core, example, str(tmp), input_names=input_names, output_names=["stylized"],
                              dynamic_axes={"image": axes, "stylized": axes},  # style: (1, styles)
                              opset_version=opset, dynamo=False)
        if names is not None:
            import onnx

            graph = onnx.load(str(tmp))
            onnx.helper.set_model_props(graph, {STYLE_NAMES_KEY: names})
            onnx.save(graph, str(tmp))


# Raised when the exported graph changes (2: the rewrites with a SpaceToDepth; 3: 2x2 phase
# convs; 4: one export per runtime, in RUNTIME_UPSAMPLING's form).
EXPORT_FORM = 4


def onnx_cache_path(model: str | os.PathLike, runtime: str) -> Path:
    """Where the ONNX export of a model (a name or .safetensors file) for `runtime` ("openvino" or
    "onnx") is cached: named by the model file's content hash, so a retrained model gets a new
    export, and by the export's form."""
    source = find_model(model)
    digest = file_sha256(source)[:16]
    return cache_dir() / "onnx" / f"{source.stem}-{digest}-{EXPORT_FORM}-{RUNTIME_UPSAMPLING[runtime]}.onnx"


def cached_onnx(model: str | os.PathLike, runtime: str) -> Path:
    """The ONNX export of a model for `runtime`, made once into the cache."""
    target = onnx_cache_path(model, runtime)
    if not target.is_file():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImpastoError(f"cannot make the ONNX cache folder '{target.parent}': {exc.strerror}") from None
        # select_style=False: the runner gives the style
        export_onnx(find_model(model), target, select_style=False, upsampling=RUNTIME_UPSAMPLING[runtime])
    return target


@dataclass
class ExportResult(Result):
    output: str   # the ONNX file written
