"""The Engine: where networks run and which ones stay loaded between calls.

    engine = impasto.Engine(device="auto", precision="auto")
    engine.stylize("photo.jpg", "starry_night")        # loads the model once
    engine.optimize("photo.jpg", "painting.jpg", progress=print)

It owns the placement (device, dtype, layout, autocast: runtime.Placement) and caches the loaded
networks: the VGG loss network per (network, layer cut, pooling, weights file, placement), style
networks per (model file, its size and mtime, placement), and OpenVINO or onnxruntime runners of
ONNX exports per (file, style, precision). A call whose options name another
device or precision than "auto" runs there, with its own cache entries.

Threads: two threads may call one engine at once. What is shared between them: the cached
networks, which are frozen (eval mode, no gradients), so concurrent forward and backward passes
through them are safe. Loading is serialised by a lock, so a network is loaded once even when two
threads ask for it together. Everything else (images, optimizer state, trained networks) belongs
to the call. Torch's intra-op threads are shared by the process: two calls at once each run at
about half speed on a CPU.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Sequence

import torch

from .runtime import Placement

__all__ = ["Engine", "default_engine"]


class Engine:
    def __init__(self, device: str = "auto", precision: str = "auto"):
        self.default_placement = Placement.resolve(device, precision)
        self._networks: dict[tuple, Any] = {}
        self._lock = threading.RLock()
        self.loads = 0  # networks loaded from disk by this engine (the cache's misses)

    def __repr__(self) -> str:
        p = self.default_placement
        return f"Engine(device={str(p.device)!r}, dtype={p.dtype}, cached={len(self._networks)})"

    # --- placement and cached networks -----------------------------------------------------------

    def placement(self, device: str = "auto", precision: str = "auto") -> Placement:
        """This engine's placement, or the one a call's options ask for."""
        if device == "auto" and precision == "auto":
            return self.default_placement
        return Placement.resolve(str(self.default_placement.device) if device == "auto" else device, precision)

    def vgg(self, layers: Sequence[str], network: str = "vgg16", pooling: str = "max",
            weights: str | os.PathLike | None = None, placement: Placement | None = None) -> torch.nn.Module:
        """The frozen VGG cut after the deepest of `layers`, loaded and verified once."""
        from .networks import deepest, load_vgg

        placement = placement or self.default_placement
        cut = deepest(network, list(layers))
        key = ("vgg", network, cut, pooling, _file_key(weights), placement)

        def load() -> torch.nn.Module:
            return placement.module(load_vgg([cut], network, pooling, weights))
        return self._cached(key, load)

    def transformer(self, model: str | os.PathLike, placement: Placement | None = None):
        """(style network in eval mode on the placement and in its dtype, its metadata) for a model
        name or file: for inference only."""
        from .models import find_model, load_model

        placement = (placement or self.default_placement).for_transformer()
        path = find_model(model)
        key = ("transformer", _file_key(path), placement)

        def load():
            net, meta = load_model(path)
            return placement.module(net.eval()), meta
        return self._cached(key, load)

    def exported(self, runtime: str, path: str | os.PathLike, style: list[float] | None = None,
                 mix: dict[str, float] | None = None, precision: str = "auto"):
        """An OpenVINO or onnxruntime runner for an ONNX file ("openvino" or "onnx"), kept between
        calls: OpenVINO compiles once per image size, 0.2-0.4 s each time otherwise."""
        from .config import pinned_precision
        from .runners import exported_runner

        key = (runtime, _file_key(path), None if style is None else tuple(style),
               None if mix is None else tuple(sorted(mix.items())), pinned_precision(precision))
        return self._cached(key, lambda: exported_runner(runtime, Path(path), style, mix, precision))

    def _cached(self, key: tuple, load):
        with self._lock:
            if key not in self._networks:
                self._networks[key] = load()
                self.loads += 1
            return self._networks[key]

    def clear(self) -> None:
        """Forget the loaded networks (frees their memory)."""
        with self._lock:
            self._networks.clear()

    # --- the commands ----------------------------------------------------------------------------

    def run_optimization(self, content, styles=None, config=None, output=None, progress=None, **options):
        """Gatys et al.; see impasto.optimize.run_optimization."""
        from .optimize import run_optimization

        return run_optimization(content, styles, config, output, progress, engine=self, **options)

    def optimize(self, content, styles=None, progress=None, **options):
        """Gatys et al.; the stylized PIL image."""
        return self.run_optimization(content, styles, progress=progress, **options).image

    def reconstruct(self, image, target, layers, config=None, output=None, progress=None, **options):
        """Gatys et al.'s Fig. 1 reconstructions; see impasto.reconstruct.reconstruct."""
        from .reconstruct import reconstruct

        return reconstruct(image, target, layers, config, output, progress, engine=self, **options)

    def reconstruction_grid(self, image, target, config=None, output=None, progress=None, **options):
        from .reconstruct import reconstruction_grid

        return reconstruction_grid(image, target, config, output, progress, engine=self, **options)

    def stylize(self, image, model, config=None, progress=None, **options):
        """Johnson et al.: one image through a style network; see impasto.stylize.stylize."""
        from .stylize import stylize

        return stylize(image, model, config, progress, engine=self, **options)

    def stylize_files(self, inputs, model, output, config=None, progress=None, **options):
        from .stylize import stylize_files

        return stylize_files(inputs, model, output, config, progress, engine=self, **options)

    def train(self, style, data, output, config=None, resume=False, progress=None, **options):
        """Johnson et al.: train a style network; see impasto.train.train."""
        from .train import train

        return train(style, data, output, config, resume, progress, engine=self, **options)

    def evaluate(self, model, style, images, config=None, csv_path=None, progress=None, **options):
        """Johnson et al.'s Table 1; see impasto.evaluate.evaluate."""
        from .evaluate import evaluate

        return evaluate(model, style, images, config, csv_path, progress, engine=self, **options)


def _file_key(path: str | os.PathLike | None) -> tuple | None:
    """A file by its resolved path, size and modification time: a changed file is loaded again."""
    if path is None:
        return None
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError:
        return (str(path),)
    return (str(path), stat.st_size, stat.st_mtime_ns)


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The engine behind the module-level functions (impasto.optimize, impasto.stylize, ...)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine()
        return _default
