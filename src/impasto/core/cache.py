"""The cache of loaded networks: where networks run and which ones stay loaded between calls.

Every algorithm takes a NetworkCache; impasto.Engine (api.py) is one with the commands on top.
It owns the placement (device, dtype, layout, autocast: core/placement.py) and caches the loaded
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported when a cache is made, not when this module is
    from .placement import Placement

__all__ = ["NetworkCache", "default_cache"]


class NetworkCache:
    def __init__(self, device: str = "auto", precision: str = "auto"):
        self.device, self.precision = device, precision  # as asked for; resolved on first use
        self._placement: Placement | None = None
        self._networks: dict[tuple, Any] = {}
        self._lock = threading.RLock()
        self.loads = 0  # networks loaded from disk by this engine (the cache's misses)

    @property
    def default_placement(self) -> Placement:
        """Where this cache's networks run; resolving it imports torch, so a cache that only holds
        OpenVINO or onnxruntime runners never does."""
        from .placement import Placement

        with self._lock:
            if self._placement is None:
                self._placement = Placement.resolve(self.device, self.precision)
            return self._placement

    def __repr__(self) -> str:
        p = self.default_placement
        return f"{type(self).__name__}(device={str(p.device)!r}, dtype={p.dtype}, cached={len(self._networks)})"

    def placement(self, device: str = "auto", precision: str = "auto") -> Placement:
        """This engine's placement, or the one a call's options ask for."""
        from .placement import Placement

        if device == "auto" and precision == "auto":
            return self.default_placement
        return Placement.resolve(str(self.default_placement.device) if device == "auto" else device, precision)

    def get(self, key: tuple, load):
        """The network kept under `key`, loaded by `load()` the first time it is asked for. Keys
        name what was loaded and where it runs (nets.cached_vgg, feedforward's cached_transformer
        and cached_runner build them)."""
        with self._lock:
            if key not in self._networks:
                self._networks[key] = load()
                self.loads += 1
            return self._networks[key]

    def clear(self) -> None:
        """Forget the loaded networks (frees their memory)."""
        with self._lock:
            self._networks.clear()


def file_key(path: str | os.PathLike | None) -> tuple | None:
    """A file by its resolved path, size and modification time: a changed file is loaded again."""
    if path is None:
        return None
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError:
        return (str(path),)
    return (str(path), stat.st_size, stat.st_mtime_ns)


_default: NetworkCache | None = None
_default_lock = threading.Lock()


def default_cache() -> NetworkCache:
    """The process's cache, for an algorithm called without one (impasto.default_engine() is a
    cache of its own, with the commands)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = NetworkCache()
        return _default
