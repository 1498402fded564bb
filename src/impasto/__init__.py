"""impasto: neural style transfer (Gatys et al. optimization; Johnson et al. feed-forward networks).

    import impasto
    engine = impasto.Engine()                      # keeps loaded networks between calls
    image = engine.optimize("photo.jpg", "painting.jpg", size=384, progress=print)
    image = impasto.stylize("photo.jpg", "starry_night")   # module-level: a default engine
"""

from .config import EvaluateConfig, OptimizeConfig, ReconstructConfig, StylizeConfig, TrainConfig
from .engine import Engine, default_engine
from .errors import Cancelled, ImpastoError, OptionError
from .progress import Progress
# The functions share their modules' names: importing them here, after their modules, makes
# `impasto.optimize` etc. the functions.
from .evaluate import evaluate
from .optimize import OptimizeResult, optimize, run_optimization
from .reconstruct import reconstruct, reconstruction_grid
from .stylize import stylize, stylize_files
from .train import TrainResult, train

__version__ = "0.1.0"
__all__ = ["Cancelled", "Engine", "EvaluateConfig", "ImpastoError", "OptimizeConfig", "OptimizeResult",
           "OptionError", "Progress", "ReconstructConfig", "StylizeConfig", "TrainConfig", "TrainResult",
           "default_engine", "evaluate", "optimize", "reconstruct", "reconstruction_grid",
           "run_optimization", "stylize", "stylize_files", "train", "__version__"]
