"""impasto: neural style transfer (Gatys et al. optimization; Johnson et al. feed-forward networks).

    import impasto
    engine = impasto.Engine()                      # keeps loaded networks between calls
    image = engine.optimize("photo.jpg", "painting.jpg", size=384, progress=print)
    image = impasto.stylize("photo.jpg", "starry_night")   # module-level: a default engine

Names are imported on first use, so `import impasto` (and `impasto --help`) does not load torch.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

_WHERE = {
    "AudioConfig": "config", "EvaluateConfig": "config", "OptimizeConfig": "config", "ReconstructConfig": "config",
    "StylizeConfig": "config", "TrainConfig": "config", "VideoConfig": "config",
    "Engine": "engine", "default_engine": "engine",
    "Cancelled": "errors", "ImpastoError": "errors", "OptionError": "errors",
    "Progress": "progress",
    "audio": "audio", "AudioResult": "audio", "evaluate": "evaluate", "OptimizeResult": "optimize", "optimize": "optimize",
    "run_optimization": "optimize", "reconstruct": "reconstruct", "reconstruction_grid": "reconstruct",
    "stylize": "stylize", "stylize_files": "stylize", "TrainResult": "train", "train": "train",
    "video": "video",
}
# Functions that share their module's name: `impasto.optimize` is the function, the module stays
# importable as `impasto.optimize` through sys.modules (`from impasto.optimize import ...`).
_FUNCTIONS = {"audio", "video", "evaluate", "optimize", "reconstruct", "stylize", "train"}
__all__ = sorted(_WHERE) + ["__version__"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'impasto' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # The import system sets a submodule as an attribute of its package; for the names
        # above that would hide the function, so the function (or the lazy lookup) wins.
        if name in _FUNCTIONS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
