"""The one front door: every command as a method of the Engine, and as a module-level function
on a default engine. The CLI, the web app and Python users call every kind of work this way.

    engine = impasto.Engine(device="auto", precision="auto")
    engine.stylize("photo.jpg", "starry_night")        # loads the model once
    engine.optimize("photo.jpg", "painting.jpg", progress=print)

Each command returns a Result (core/results.py): `summary()` is what `--json` prints.
"""

from __future__ import annotations

import os
import threading

from .core.cache import NetworkCache
from .core.errors import ImpastoError

__all__ = ["Engine", "default_engine", "audio", "evaluate", "export", "optimize", "reconstruct",
           "reconstruction_grid", "run_optimization", "stylize", "stylize_files", "train", "video"]


class Engine(NetworkCache):
    """The cache of loaded networks (NetworkCache) with every command on top."""

    def vgg(self, layers, network="vgg16", pooling="max", weights=None, placement=None):
        """The frozen VGG loss network cut after the deepest of `layers`, kept loaded."""
        from .nets import cached_vgg

        return cached_vgg(self, layers, network, pooling, weights, placement)

    def transformer(self, model, placement=None):
        """(style network, its metadata) for a model name or file, kept loaded."""
        from .feedforward.model_files import cached_transformer

        return cached_transformer(self, model, placement)

    def exported(self, runtime, path, style=None, mix=None, precision="auto"):
        """An OpenVINO or onnxruntime runner of an ONNX file, kept with its compiled sizes."""
        from .feedforward.runners import cached_runner

        return cached_runner(self, runtime, path, style, mix, precision)

    def run_optimization(self, content, styles=None, config=None, output=None, progress=None, **options):
        """Gatys et al.: an OptimizeResult (the image, its losses); see optimization/optimize.py."""
        from .optimization.optimize import run_optimization

        init = options.get("init", config.init if config is not None else None)
        if init == "fast":
            options, start = self._fast_start(content, styles, config, options)
            return run_optimization(content, styles, config, output, progress, cache=self, start=start, **options)
        return run_optimization(content, styles, config, output, progress, cache=self, **options)

    def _fast_start(self, content, styles, config, options):
        """init fast: the paintings' one-pass result at the output's size, and (unless given) the
        shorter schedule that suits a start that is already stylized."""
        from .core.config import FAST_START, OptimizeConfig
        from .core.options import configure

        settled = configure(OptimizeConfig, config, **options)
        if settled.mask:
            raise ImpastoError("init fast takes the paintings given as styles, not a mask's region styles")
        paintings = list(styles) if isinstance(styles, (list, tuple)) else [styles]
        if not paintings or paintings[0] is None:
            raise ImpastoError("give at least one style image")
        weights = settled.style_blend or [1.0] * len(paintings)
        start = self.stylize(content, style=paintings if len(paintings) > 1 else paintings[0],
                             style_blend=weights if len(paintings) > 1 else None, size=settled.size,
                             device=settled.device, precision=settled.precision)
        given = set(options) | ({f for f in ("scales", "iterations") if getattr(config, f) != getattr(OptimizeConfig(), f)}
                                if config is not None else set())
        return {**{k: v for k, v in FAST_START.items() if k not in given}, **options}, start

    def optimize(self, content, styles=None, progress=None, **options):
        """Gatys et al.; the stylized PIL image."""
        return self.run_optimization(content, styles, progress=progress, **options).image

    def reconstruct(self, image, target, layers, config=None, output=None, progress=None, **options):
        """Gatys et al.'s Fig. 1 reconstructions; see optimization/reconstruct.py."""
        from .optimization.reconstruct import reconstruct

        return reconstruct(image, target, layers, config, output, progress, cache=self, **options)

    def reconstruction_grid(self, image, target, config=None, output=None, progress=None, **options):
        from .optimization.reconstruct import reconstruction_grid

        return reconstruction_grid(image, target, config, output, progress, cache=self, **options)

    def stylize(self, image, model=None, config=None, progress=None, style=None, **options):
        """One image in one pass, a PIL image: through a trained style network (`model`, Johnson et
        al.; feedforward/stylize.py) or in the style of any painting (`style`, a path or image or a
        list of them, Ghiasi et al.; arbitrary/stylize.py). The engine keeps the networks and the
        paintings' embeddings for the next call."""
        if _paints(style, config, options):
            from .arbitrary.stylize import stylize as arbitrary

            return arbitrary(image, style, config, progress, cache=self, model=model, **options)
        from .feedforward.stylize import stylize

        return stylize(image, model, config, progress, cache=self, **options)

    def stylize_files(self, inputs, model=None, output=None, config=None, progress=None, style=None, **options):
        """Many files in one pass each (a trained `model`, or the `style` of any painting): a StylizeResult."""
        if output is None:
            raise ImpastoError("stylize_files needs an output: a file for one input, else a folder")
        if _paints(style, config, options):
            from .arbitrary.stylize import stylize_files as arbitrary

            return arbitrary(inputs, style, output, config, progress, cache=self, model=model, **options)
        from .feedforward.stylize import stylize_files

        return stylize_files(inputs, model, output, config, progress, cache=self, **options)

    def train(self, style, data, output, config=None, resume=False, progress=None, **options):
        """Johnson et al.: train a style network; see feedforward/train.py."""
        from .feedforward.train import train

        return train(style, data, output, config, resume, progress, cache=self, **options)

    def evaluate(self, model, style, images, config=None, csv_path=None, progress=None, **options):
        """Johnson et al.'s Table 1; see feedforward/evaluate.py."""
        from .feedforward.evaluate import evaluate

        return evaluate(model, style, images, config, csv_path, progress, cache=self, **options)

    def export(self, model, output, upsampling: str = "phases", **options):
        """A style model as ONNX: an ExportResult."""
        from .feedforward.export import ExportResult, export_onnx

        return ExportResult(str(export_onnx(model, output, upsampling=upsampling, **options)))

    def video(self, input, output, model=None, config=None, progress=None, **options):
        """A clip through a style network (or optimized), without flicker: a VideoResult."""
        from .videos.transfer import video

        return video(input, output, model, config, progress, cache=self, **options)

    def audio(self, content, style, config=None, progress=None, output: str | os.PathLike | None = None,
              **options):
        """Ulyanov & Lebedev: an AudioResult; with `output`, the sound is written there too (its
        format checked before the work)."""
        from .core.files import refuse_overwriting_inputs
        from .sounds.audio_files import check_audio_output, write_audio
        from .sounds.transfer import audio

        if output is not None:
            check_audio_output(output, options.get("sample_rate", config.sample_rate if config else None))
            refuse_overwriting_inputs([output], [c for c in (content, style) if not isinstance(c, tuple)])
        result = audio(content, style, config, progress, cache=self, **options)
        if output is not None:
            write_audio(output, result.samples, result.sample_rate)
            result.output = str(output)
        return result


def _paints(style, config, options) -> bool:
    """Whether a stylize call takes paintings (`style`, or a mask's region styles) rather than a
    trained model: the arbitrary-style path."""
    return style is not None or bool(options.get("mask") or (config is not None and config.mask))


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The engine behind the module-level functions (impasto.optimize, impasto.stylize, ...)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine()
        return _default


def _on_default(name: str):
    method = getattr(Engine, name)

    def command(*args, engine: Engine | None = None, **options):
        return method(engine or default_engine(), *args, **options)
    command.__name__ = command.__qualname__ = name
    command.__doc__ = method.__doc__
    return command


audio = _on_default("audio")
evaluate = _on_default("evaluate")
export = _on_default("export")
optimize = _on_default("optimize")
reconstruct = _on_default("reconstruct")
reconstruction_grid = _on_default("reconstruction_grid")
run_optimization = _on_default("run_optimization")
stylize = _on_default("stylize")
stylize_files = _on_default("stylize_files")
train = _on_default("train")
video = _on_default("video")
