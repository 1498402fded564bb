"""Runners: a style network from images to images, as numpy arrays (1, 3, H, W) in 0..1, on torch
(a loaded network) or on OpenVINO or onnxruntime (an ONNX export; these never import torch)."""

from __future__ import annotations

import functools
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.cache import NetworkCache, file_key
from ..core.config import OPENVINO_SHAPES, pinned_precision
from ..core.errors import ImpastoError, OutputError
from .model_files import style_weights

if TYPE_CHECKING:
    from ..core.placement import Placement
    from ..nets.transformer import TransformerNet


class TorchRunner:
    """A loaded network on its placement, from arrays to arrays. A network cast to the placement's
    dtype runs in it directly (bf16 throughout: no autocast casts around every norm, and within a
    level of fp32's pixels); one kept in fp32 (a network handed in by the caller,
    still training perhaps) runs under autocast."""

    runtime = "torch"

    def __init__(self, net: "TransformerNet", placement: "Placement", style: list[float] | None = None):
        self.net, self.placement, self.style = net, placement, style
        self.cast = next(net.parameters()).dtype == placement.dtype

    def __call__(self, image: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = self.placement.tensor(torch.from_numpy(image))
            style = None if self.style is None else torch.tensor([self.style])
            if self.cast:
                y = self.net(x.to(self.placement.dtype), style)
            else:
                with self.placement.autocast():
                    y = self.net(x, style)
            self.placement.synchronize()
            return y.float().cpu().numpy()


class OnnxRunner:
    """An exported model under onnxruntime; pads to a multiple of 4 as TransformerNet.forward does."""

    runtime = "onnx"

    def __init__(self, path: str | os.PathLike, style: list[float] | None = None,
                 mix: dict[str, float] | None = None, style_per_call: bool = False):
        """`style`: the weights of a several-style export; or `mix`, by the style names it carries.
        `style_per_call`: the style is given with each image (the arbitrary-style path's)."""
        path = existing_onnx(path)
        self.session = onnx_session(path)
        from .export import STYLE_NAMES_KEY

        carried = self.session.get_modelmeta().custom_metadata_map.get(STYLE_NAMES_KEY)
        check_graph(path, [(i.name, i.type == "tensor(float)", len(i.shape)) for i in self.session.get_inputs()],
                    [(o.name, o.type == "tensor(float)", len(o.shape)) for o in self.session.get_outputs()],
                    carried)
        self.input = self.session.get_inputs()[0].name
        style = None if style_per_call else export_style(path, [i.name for i in self.session.get_inputs()],
                                                         carried, style, mix)
        self.extra = {} if style is None else {"style": np.asarray([style], dtype=np.float32)}

    def __call__(self, image: np.ndarray, style: np.ndarray | None = None) -> np.ndarray:
        x, (height, width) = padded_to_4(image)
        extra = self.extra if style is None else {"style": style.reshape(1, -1).astype(np.float32)}
        y = self.session.run(None, {self.input: x, **extra})[0]
        return np.ascontiguousarray(y[..., :height, :width])


def onnx_session(path: str | os.PathLike):
    """An onnxruntime session of an ONNX file; a file it cannot load is a one-line error. For an
    export in impasto's cache on the CPU, the graph onnxruntime optimizes is kept beside it and read
    back next time: a one-photo command then skips most of the session's set-up."""
    import onnxruntime as ort

    providers = ort.get_available_providers()
    on_cpu = not set(providers) - {"CPUExecutionProvider", "AzureExecutionProvider"}  # Azure: remote calls only
    optimized = _optimized_path(Path(path), ort.__version__) if on_cpu else None
    if optimized is not None and optimized.is_file():
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(optimized), options, providers=providers)
        except Exception:  # noqa: BLE001 - a damaged copy: optimize the export again below
            optimized.unlink(missing_ok=True)
    if optimized is None:
        return _session(path, ort.SessionOptions(), providers)
    from ..core.files import atomic_path

    session = None
    try:
        with atomic_path(optimized) as tmp:  # a killed run's temporary is swept by the next
            options = ort.SessionOptions()
            options.optimized_model_filepath = str(tmp)
            options.log_severity_level = 3  # its warning that the copy fits this machine only: it is named so
            session = _session(path, options, providers)
    except OutputError:
        pass  # an unwritable cache: the session is made all the same, only not kept for next time
    return session if session is not None else _session(path, ort.SessionOptions(), providers)


def _session(path, options, providers):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types
        raise ImpastoError(f"cannot load ONNX model '{path}': {str(exc).splitlines()[0]}") from None


def _optimized_path(export: Path, version: str) -> Path | None:
    """Where onnxruntime's optimized graph of a cached export lives: it holds layouts for this
    CPU's vector units, so it is named by the CPU and the onnxruntime version as well."""
    from ..core.files import cache_dir

    try:
        if export.resolve().parent != (cache_dir() / "onnx").resolve():
            return None  # a user's own file: write nothing beside it
    except OSError:
        return None
    return export.with_name(f"{export.stem}.ort-{version}-{_cpu_key()}.onnx")


@functools.cache  # a painting not seen before makes two sessions: /proc/cpuinfo is read once
def _cpu_key() -> str:
    import hashlib
    import platform

    described = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            described += "".join(line for line in info.read().split("\n\n")[0].splitlines()
                                 if line.startswith(("model name", "flags")))
    except OSError:
        pass
    return hashlib.sha256(described.encode()).hexdigest()[:12]


class OpenVinoRunner:
    """An exported model under OpenVINO, whose CPU plugin runs the network in bf16 where the CPU
    computes it natively (as torch does here) with far less cost per layer than eager torch.
    Compiled once per input shape: static shapes run faster than one dynamic-shape compile, and a
    compile takes a fraction of a second; the last few shapes stay compiled."""

    runtime = "openvino"
    KEEP_SHAPES = OPENVINO_SHAPES  # compiled in memory
    KEEP_BLOBS = 32    # compiled on disk

    def __init__(self, path: str | os.PathLike, style: list[float] | None = None,
                 mix: dict[str, float] | None = None, precision: str = "auto", style_per_call: bool = False):
        """`style_per_call`: the style input stays an input, given with each image (the
        arbitrary-style path's, whose style changes with every painting)."""
        import openvino as ov
        from openvino.frontend import FrontEndManager

        path = existing_onnx(path)
        self.core = ov.Core()
        self.blobs = compiled_cache()
        if self.blobs is not None:  # a compile read back from disk is cheaper than a fresh one
            self.core.set_property({"CACHE_DIR": str(self.blobs)})
        try:  # its ONNX reader alone: read_model would try every framework's on a broken file
            onnx_reader = FrontEndManager().load_by_framework("onnx")
            self.model = onnx_reader.convert(onnx_reader.load(str(path)))
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own error types
            raise ImpastoError(f"cannot load ONNX model '{path}': {last_line(exc)}") from None
        from .export import STYLE_NAMES_KEY

        key = ["framework", STYLE_NAMES_KEY]
        carried = self.model.get_rt_info(key).astype(str) if self.model.has_rt_info(key) else None

        def described(ports):
            return [(p.any_name if p.get_names() else "", p.get_element_type().is_real(),
                     p.get_partial_shape().rank.get_length() if p.get_partial_shape().rank.is_static else -1)
                    for p in ports]
        check_graph(path, described(self.model.inputs), described(self.model.outputs), carried)
        names = [i.any_name for i in self.model.inputs]
        self.input = names[0]
        if not style_per_call:
            style = export_style(path, names, carried, style, mix)
            if style is not None:
                fold_style(self.model, np.asarray([style], dtype=np.float32))
        precision = pinned_precision(precision)
        # auto: OpenVINO's own default, bf16 exactly where the CPU has AMX or AVX512-BF16
        self.settings = {"PERFORMANCE_HINT": "LATENCY"}
        if precision in ("fp32", "bf16"):
            self.settings["INFERENCE_PRECISION_HINT"] = {"fp32": "f32", "bf16": "bf16"}[precision]
        self.compiled: dict[tuple, object] = {}
        self.lock = threading.Lock()

    def request(self, shape: tuple[int, ...]):
        if shape not in self.compiled:
            if len(self.compiled) >= self.KEEP_SHAPES:
                self.compiled.pop(next(iter(self.compiled)))
            model = self.model.clone()
            model.reshape({self.input: list(shape)})
            try:
                self.compiled[shape] = self.core.compile_model(model, "CPU", self.settings).create_infer_request()
            except Exception as exc:  # noqa: BLE001
                raise ImpastoError(f"OpenVINO cannot compile the model for {shape[-1]}x{shape[-2]}: "
                                   f"{last_line(exc)}") from None
            if self.blobs is not None:
                keep_newest(self.blobs, self.KEEP_BLOBS)
        return self.compiled[shape]

    def __call__(self, image: np.ndarray, style: np.ndarray | None = None) -> np.ndarray:
        x, (height, width) = padded_to_4(image)
        inputs = {self.input: x} if style is None else {self.input: x, "style": style.reshape(1, -1).astype(np.float32)}
        with self.lock:  # an infer request runs one image at a time; an Engine shares its runners
            y = self.request(x.shape).infer(inputs)[0]
        return np.ascontiguousarray(y[..., :height, :width])


def exported_runner(runtime: str, path: Path, style: list[float] | None = None,
                    mix: dict[str, float] | None = None, precision: str = "auto") -> "OnnxRunner | OpenVinoRunner":
    """The runner of an ONNX export on `runtime`: "onnx" (onnxruntime, fp32) or "openvino"."""
    if runtime == "onnx":
        return OnnxRunner(path, style, mix)
    return OpenVinoRunner(path, style, mix, precision)


def fold_style(model, style: np.ndarray) -> None:
    """Make a several-style model's `style` input the constant `style`: OpenVINO then folds each
    conditional norm's scale and shift into constants and fuses them with the norm (fewer layout
    reorders)."""
    import openvino.opset13 as ops

    parameter = next(p for p in model.get_parameters() if p.get_friendly_name() == "style")
    constant = ops.constant(style)
    for target in list(parameter.output(0).get_target_inputs()):
        target.replace_source_output(constant.output(0))
    model.remove_parameter(parameter)
    model.validate_nodes_and_infer_types()


def last_line(exc: Exception) -> str:
    """OpenVINO's messages start with the source line that raised and end with what went wrong."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def compiled_cache() -> Path | None:
    """The folder OpenVINO keeps its compiled models in (one per model, shape and precision); None
    where it cannot be made: compiling works all the same."""
    from ..core.files import cache_dir

    folder = cache_dir() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def keep_newest(folder: Path, count: int) -> None:
    """Delete all but the `count` newest files of `folder` (each new image size adds one)."""
    try:
        files = sorted(folder.iterdir(), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[count:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruning too, or a read-only cache: harmless


def check_graph(path: Path, inputs: list[tuple[str, bool, int]], outputs: list[tuple[str, bool, int]],
                carried: str | None) -> None:
    """Check, once when it is opened, that an ONNX graph is a style network as `impasto export`
    writes one: an image input (float, N x 3 x H x W), perhaps a "style" input (float, N x S), an
    image output, and style names (if any) as a JSON list. Ports are (name, is float, rank)."""
    def refuse(why: str) -> None:
        raise ImpastoError(f"ONNX model '{path}' is not a style network impasto can run: {why}")

    if not inputs or not outputs:
        refuse("it has no inputs or no outputs")
    image, *others = inputs
    if not image[1] or image[2] != 4:
        refuse(f"its first input {image[0]!r} is not a float image (N x 3 x H x W)")
    for name, is_float, rank in others:
        if name != "style" or not is_float or rank != 2:
            refuse(f"its input {name!r} is neither the image nor a float 'style' (N x S)")
    if not outputs[0][1] or outputs[0][2] != 4:
        refuse(f"its output {outputs[0][0]!r} is not a float image (N x 3 x H x W)")
    if carried is not None:
        try:
            names = json.loads(carried)
        except ValueError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            refuse("its style names (metadata) are not a JSON list of names")


def existing_onnx(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ImpastoError(f"ONNX model '{path}' does not exist (make one with `impasto export`)")
    return path


def padded_to_4(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The image in fp32, reflection-padded to sides divisible by 4 (as TransformerNet.forward
    pads; exports take such sides), and its own height and width."""
    x = image.astype(np.float32, copy=False)
    height, width = x.shape[-2:]
    pad = ((0, 0), (0, 0), (0, (-height) % 4), (0, (-width) % 4))
    return np.pad(x, pad, mode="reflect"), (height, width)


def export_style(path: Path, inputs: list[str], carried: str | None, style: list[float] | None,
                 mix: dict[str, float] | None) -> list[float] | None:
    """The style weights to feed an export: `style` as given, or `mix` over the style names the
    export carries (`carried`, JSON) when it takes a style input; None for a one-style export."""
    if "style" not in inputs:
        if style is not None or mix:
            raise ImpastoError(f"ONNX model '{path}' holds one style: it cannot be mixed")
        return None
    if style is not None:
        return style
    names = json.loads(carried) if carried else None
    what = f"holds the styles {', '.join(names)}" if names else "holds several styles"
    if not mix:
        raise ImpastoError(f"ONNX model '{path}' {what}: mix them with --mix NAME=WEIGHT,... or "
                           "export one alone (impasto export MODEL:STYLE --onnx OUT.onnx)")
    if not names:
        raise ImpastoError(f"ONNX model '{path}' {what} but not their names: export it again to mix it")
    return style_weights(path, {"styles": str(len(names)), "style_names": carried}, mix)


def cached_runner(cache: NetworkCache, runtime: str, path: str | os.PathLike, style: list[float] | None = None,
                  mix: dict[str, float] | None = None, precision: str = "auto"):
    """An OpenVINO or onnxruntime runner for an ONNX file ("openvino" or "onnx"), kept in the
    cache between calls: OpenVINO compiles once per image size."""
    key = (runtime, file_key(path), None if style is None else tuple(style),
           None if mix is None else tuple(sorted(mix.items())), pinned_precision(precision))
    return cache.get(key, lambda: exported_runner(runtime, Path(path), style, mix, precision))
