"""impasto: neural style transfer (Gatys et al. optimization; Johnson et al. feed-forward networks).

    import impasto
    engine = impasto.Engine()                      # keeps loaded networks between calls
    image = engine.optimize("photo.jpg", "painting.jpg", size=384, progress=print)
    image = impasto.stylize("photo.jpg", "starry_night")   # module-level: a default engine

Names are imported on first use, so `import impasto` (and `impasto --help`) does not load torch.
The folders, lowest first: core, nets, losses, optimization, feedforward, videos and sounds, then
api (the Engine), cluster (Ray), then the front ends serve and cli; a folder imports only from
those below it (pyproject.toml's import-linter contract).
"""

import importlib

__version__ = "0.1.0"

_WHERE = {
    "AudioConfig": "core.config", "EvaluateConfig": "core.config", "OptimizeConfig": "core.config",
    "ReconstructConfig": "core.config", "StylizeConfig": "core.config", "TrainConfig": "core.config",
    "VideoConfig": "core.config",
    "Cancelled": "core.errors", "ImpastoError": "core.errors", "OptionError": "core.errors",
    "Progress": "core.progress", "Result": "core.results",
    "OptimizeResult": "optimization.optimize", "TrainResult": "feedforward.train",
    "AudioResult": "sounds.transfer",
    "Engine": "api", "default_engine": "api", "audio": "api", "evaluate": "api", "export": "api",
    "optimize": "api", "run_optimization": "api", "reconstruct": "api", "reconstruction_grid": "api",
    "stylize": "api", "stylize_files": "api", "train": "api", "video": "api",
}
__all__ = sorted(_WHERE) + ["__version__"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'impasto' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
