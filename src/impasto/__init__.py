"""impasto: neural style transfer (Gatys et al. optimization; Johnson et al. feed-forward networks)."""

from .errors import ImpastoError
from .optimize import OptimizeConfig, OptimizeResult, optimize, run_optimization
from .reconstruct import ReconstructConfig, reconstruct, reconstruction_grid
from .stylize import StylizeConfig, stylize
from .train import TrainConfig, train

__version__ = "0.1.0"
__all__ = ["ImpastoError", "OptimizeConfig", "OptimizeResult", "ReconstructConfig", "StylizeConfig",
           "TrainConfig", "optimize", "reconstruct", "reconstruction_grid", "run_optimization", "stylize",
           "train", "__version__"]
