"""Every option of every command, declared once with its default, help text and limits.

The Python API validates these dataclasses and the command line generates its arguments from them
(see options.py). This module imports no torch, so `impasto --help` stays quick.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Sequence

from .errors import ImpastoError, OptionError
from .options import check, option

MIN_SIDE = 16            # smallest image side the VGG and transformation networks accept
AUTO_SCALE_FROM = 256    # outputs above this long side are optimized coarse-to-fine by default
PRECISIONS = ("auto", "fp32", "bf16")
COMPILE_FROM = 1000      # training runs at least this long compile their network by default
PRESERVE_COLOR = ("none", "luminance", "histogram")
UPSAMPLING_FORMS = ("phases", "transposed")
MAX_AUDIO_SECONDS = 3600.0  # an hour of sound: its spectrogram and filter responses fill memory beyond
AUTO_EXPORT_MAX_INPUTS = 8  # runtime auto: OpenVINO for this many inputs or fewer once exported
OPENVINO_SHAPES = 4         # image sizes an OpenVINO runner keeps compiled  # how ONNX export writes the upsampling (export.py)
FAST_START = {"scales": 1, "iterations": 60}  # optimize --init fast's schedule (bench/main_command.py)
DEVICE_HELP = "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps"
PRECISION_HELP = "auto: bf16 where the hardware computes it natively (AMX, AVX512-BF16, bf16 GPUs), else fp32"


def loss_weights(config) -> dict[str, float]:
    """alpha, beta and lambda_TV of a config, as the objective takes them."""
    return {"content": config.content_weight, "style": config.style_weight, "tv": getattr(config, "tv_weight", 0.0)}


def pinned_precision(name: str) -> str:
    """`name`, except that what `auto` means can be pinned for a whole process with
    IMPASTO_PRECISION=fp32|bf16 (e.g. to run the suite in both)."""
    pinned = os.environ.get("IMPASTO_PRECISION", "auto")
    if name != "auto" or pinned == "auto":
        return name
    if pinned not in ("fp32", "bf16"):
        raise ImpastoError(f"IMPASTO_PRECISION must be auto, fp32 or bf16, not {pinned!r}")
    return pinned


@dataclass
class Config:
    """Base of the option dataclasses. `progress` is kept so older scripts that pass
    progress=False still run: the library prints nothing either way (progress is now a callback
    argument of each call)."""

    progress: bool = dataclasses.field(default=True, repr=False, compare=False)


@dataclass
class OptimizeConfig(Config):
    """Every option of `impasto optimize` (Gatys et al. 2016, 2017), with its default."""

    iterations: int = option(178, "optimizer iterations at the final scale (a third as many at each "
                             "coarser one)", minimum=0, group="common")
    optimizer: str = option("lbfgs", "L-BFGS (one loss evaluation per iteration) or Adam",
                            choices=("lbfgs", "adam"), group="common")
    learning_rate: float = option(0.02, "Adam step size, in 0..1 pixel units", above=0,
                                  flags=("--lr",), group="common")
    init: str = option("content", "start from content (the photo), noise (as Gatys et al.), style "
                       "(the painting), fast (the painting's one-pass result, --style's network: then "
                       f"{FAST_START['iterations']} iterations at one scale unless given) or an image FILE",
                       group="common")
    seed: int = option(0, "seed for the noise start", minimum=0, maximum=2**32 - 1, group="common")
    size: int = option(512, "long side of the output in pixels", minimum=MIN_SIDE, group="common")
    tv_weight: float = option(1e4, "lambda_TV: total-variation smoothing (not in the paper)",
                              minimum=0, group="common")
    pooling: str = option("max", "VGG pooling (Gatys et al. prefer avg for synthesis)",
                          choices=("max", "avg"), group="common")
    network: str = option("vgg16", "the loss network", choices=("vgg16", "vgg19"), group="common")
    weights: str | None = option(None, "local VGG weights (.safetensors or torchvision .pth)",
                                 kind=str, metavar="FILE", group="common")
    device: str = option("auto", DEVICE_HELP, group="common")
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS, group="common")
    max_memory: float | None = option(
        None, "refuse a run estimated to need more than this many GiB (default: the memory "
        "available now; 0: no check)", kind=float, minimum=0, metavar="GIB", group="common")
    save_every: int = option(0, "also write OUTPUT-iterNNNN images every N iterations (final scale)",
                             minimum=0, metavar="N", group="common")
    content_weight: float = option(1.0, "alpha: weight of the content loss", minimum=0)
    style_weight: float = option(3e-4, "beta: weight of the style loss", minimum=0)
    range_weight: float = option(10.0, "pixel-range penalty, relative to the starting loss (0: off)",
                                 minimum=0)
    content_layers: tuple[str, ...] = option(("relu4_2",), "VGG layers matched for content",
                                             metavar="L[,L...]")
    style_layers: tuple[str, ...] = option(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "VGG layers matched for style",
        metavar="L[,L...]")
    style_layer_weights: tuple[float, ...] | None = option(
        None, "w_l per style layer (normalised to sum 1; default equal)", kind=float, sequence=True,
        minimum=0, metavar="W[,W...]")
    style_blend: tuple[float, ...] | None = option(
        None, "weight per style image (normalised to sum 1; default equal)", kind=float,
        sequence=True, minimum=0, metavar="B[,B...]")
    style_scale: float = option(1.0, "style image size relative to the output's", above=0)
    preserve_color: str = option("none", "luminance: transfer luminance only; histogram: give the "
                                 "painting the photo's colours first", choices=PRESERVE_COLOR,
                                 group="control")
    mask: str | None = option(None, "image whose colours mark regions (with region styles)", kind=str,
                              group="control")
    region_styles: tuple[tuple[str, str], ...] = option(
        (), "style for the mask's COLOUR (#rrggbb, r,g,b, grey level or name); repeat per region. "
        "Regions without one keep content only", kind=tuple, flag="--region-style",
        metavar="COLOUR=STYLE", group="control")
    keep_unstyled: bool = option(False, "paste the photo back into regions without a style",
                                 group="control")
    scales: int | None = option(None, "coarse-to-fine scales, each twice the previous (default: 1 up "
                                f"to {AUTO_SCALE_FROM} px, one more per doubling)", kind=int, minimum=1, maximum=8,
                                group="control")
    tile: int = option(0, "optimize in SIZE px tiles to bound memory (0: whole image)", minimum=0,
                       metavar="SIZE", group="control")
    tile_overlap: int | None = option(None, "pixels shared by neighbouring tiles (default SIZE/4)",
                                      kind=int, minimum=0, group="control")
    tile_passes: int = option(2, "passes over a shifted tile grid per scale", minimum=1,
                              group="control")

    def validate(self) -> None:
        check(self)
        from .layer_names import check_layers

        check_layers(self.network, list(self.content_layers) + list(self.style_layers))
        if self.style_layer_weights is not None:
            normalised_weights("style_layer_weights", self.style_layer_weights,
                               len(self.style_layers), "style layers")
        if self.tile and self.tile < 32:
            raise OptionError("tile", "{name} must be at least 32 pixels (or 0 for no tiling)")
        if self.tile and not self.overlap < self.tile // 2:
            raise OptionError("tile_overlap", "{name} must be less than half of the tile size")
        if bool(self.mask) != bool(self.region_styles):
            raise OptionError("mask", "a mask and region styles go together")

    @property
    def overlap(self) -> int:
        return self.tile // 4 if self.tile_overlap is None else self.tile_overlap

    def scale_sizes(self) -> list[int]:
        """Long sides, coarse to fine; each scale doubles the previous one."""
        count = self.scales or 1 + max(0, math.ceil(math.log2(self.size / AUTO_SCALE_FROM)))
        return [max(MIN_SIDE, round(self.size / 2 ** k)) for k in reversed(range(count))]

    def scale_iterations(self, scales: int) -> list[int]:
        """`iterations` at the final scale, a third as many at each coarser one (at least 1 where
        iterations > 0): a coarse scale only has to give the next one a good start, and past that
        point its iterations did not lower the final loss, while the final scale's own iterations do."""
        return [min(self.iterations, max(1, self.iterations // 3 ** k)) for k in reversed(range(scales))]


def normalised_weights(option_name: str, weights: Sequence[float], count: int, of: str) -> list[float]:
    """Weights that must come one per item and are normalised to sum 1."""
    if len(weights) != count:
        raise OptionError(option_name, f"{{name}} has {len(weights)} values for {count} {of}")
    if any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise OptionError(option_name, "{name} must be numbers >= 0 with a positive sum")
    return [w / sum(weights) for w in weights]


def with_defaults(config_class: type, name: str, doc: str, **defaults) -> type:
    """A subclass of a config whose fields keep their help and limits but take other defaults."""
    spec = []
    for f in dataclasses.fields(config_class):
        if f.name in defaults:
            spec.append((f.name, f.type, dataclasses.field(default=defaults[f.name], metadata=f.metadata)))
    cls = dataclasses.make_dataclass(name, spec, bases=(config_class,))
    cls.__doc__, cls.__module__ = doc, __name__
    return cls


ReconstructConfig = with_defaults(
    OptimizeConfig, "ReconstructConfig",
    "Options of `impasto reconstruct`: those of optimize, smaller by default (one run per layer); "
    "the paper's reconstructions carry no image prior (tv_weight 0).",
    size=256, iterations=300, tv_weight=0.0)


@dataclass
class TrainConfig(Config):
    """Every option of `impasto train`, with its default (Johnson et al.'s recipe)."""

    iterations: int = option(40000, "training steps", minimum=0)
    epochs: float | None = option(None, "passes over the photos (overrides iterations)", kind=float,
                                  above=0)
    batch_size: int = option(4, "photos per step (the global batch, split across processes)", minimum=1)
    image_size: int = option(256, "random square crops of this size", minimum=MIN_SIDE)
    base: str | None = option(None, "learn the painting(s) as new styles of this several-style network (a "
                              "model name or file, e.g. styles): only their conditional-norm parameters, "
                              "the network's convolutions frozen (Dumoulin et al. 4.3); minutes, not a day",
                              flag="--from", kind=str, metavar="MODEL")
    style_size: int = option(256, "long side of the style image", minimum=MIN_SIDE)
    lr: float = option(1e-3, "Adam learning rate", above=0)
    ema: float = option(0.0, "decay of an exponential moving average of the weights, which is the "
                        "model written (Polyak averaging; e.g. 0.998); 0: the last weights", minimum=0,
                        maximum=0.99999)
    lr_decay: float = option(0.0, "the last fraction of the steps over which the learning rate falls "
                             "linearly to zero (e.g. 0.2); 0: a constant rate", minimum=0, maximum=1)
    content_weight: float = option(1.0, "lambda_c", minimum=0)
    style_weight: float = option(5.0, "lambda_s (with --from: each painting its own, scaled so that it pulls "
                                 "a photo as hard as the base network's paintings do)", minimum=0)
    tv_weight: float = option(1e-6, "lambda_TV (Johnson: 1e-6 .. 1e-4)", minimum=0)
    content_layers: tuple[str, ...] = option(("relu2_2",), "VGG layers matched for content",
                                             metavar="L[,L...]")
    style_layers: tuple[str, ...] = option(("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
                                           "VGG layers matched for style", metavar="L[,L...]")
    width: float = option(1.0, "channel multiplier of the transformation network (0.5: half width)",
                          above=0)
    norm: str = option("instance", "normalization layers (conditional: several paintings in one network, "
                       "Dumoulin et al.; chosen whenever several are given)",
                       choices=("instance", "batch", "conditional"))
    hold_out: int = option(0, "photos kept out of training for evaluation: those whose path hash is "
                           "smallest (impasto.data.held_out)", minimum=0)
    upsample: str = option("nearest", "nearest upsampling + conv, or transposed conv",
                           choices=("nearest", "deconv"))
    seed: int = option(0, "seed for initial weights and crops", minimum=0, maximum=2**32 - 1)
    checkpoint_every: int = option(500, "steps between checkpoints", minimum=1)
    overwrite: bool = option(False, "start afresh over an earlier run's checkpoint of OUTPUT (without it, "
                             "train refuses to replace one; --resume continues it)")
    compile: str = option("auto", "compile the transformation network with torch.compile (faster steps "
                          "after a compile of under a minute); auto: for runs "
                          f"of {COMPILE_FROM} steps or more", choices=("auto", "on", "off"))
    network: str = option("vgg16", "the loss network", choices=("vgg16", "vgg19"))
    weights: str | None = option(None, "local VGG weights", kind=str, metavar="FILE")
    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def validate(self) -> None:
        check(self)
        from .layer_names import check_layers

        check_layers(self.network, list(self.content_layers) + list(self.style_layers))
        if self.image_size % 4:
            raise OptionError("image_size", "{name} must be a multiple of 4")


@dataclass
class ArbitraryTrainConfig(Config):
    """Every option of training the arbitrary-style network (scripts/train_arbitrary.py; Ghiasi et al.
    2017 on impasto's shipped network)."""

    iterations: int = option(20000, "training steps", minimum=0)
    batch_size: int = option(4, "photos per step, each with its own painting", minimum=1)
    image_size: int = option(192, "random square crops of the photos", minimum=MIN_SIDE)
    style_sizes: tuple[int, ...] = option((160, 256), "smallest and largest long side a painting is read "
                                          "at (each sample draws one: the brush scale it learns to follow)",
                                          minimum=MIN_SIDE, metavar="MIN,MAX")
    lr: float = option(1e-3, "Adam learning rate of the style prediction and the norms' tables", above=0)
    conv_lr: float = option(1e-4, "Adam learning rate of the convolutions (0: frozen at the base network's)",
                            minimum=0)
    content_weight: float = option(1.0, "lambda_c (the shipped network's)", minimum=0)
    style_weight: float = option(2.0, "lambda_s (the shipped network's)", minimum=0)
    tv_weight: float = option(1e-5, "lambda_TV (the shipped network's)", minimum=0)
    content_layers: tuple[str, ...] = option(("relu2_2",), "VGG16 layers matched for content (the shipped "
                                             "network's: its convolutions start at that loss's optimum)",
                                             metavar="L[,L...]")
    style_layers: tuple[str, ...] = option(("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
                                           "VGG16 layers whose Grams are matched (the shipped network's)",
                                           metavar="L[,L...]")
    pull_exponent: float = option(0.0, "each sample's style weight scaled by (d / pull_reference) ** this, d "
                                  "its painting's pull on its photo (sum of the style terms of the photo "
                                  "itself): 0, one weight for all", minimum=0, maximum=2)
    pull_reference: float = option(3.4e5, "the pull whose sample keeps lambda_s as it is (the median over "
                                   "training pairs)", above=0)
    self_style: float = option(0.1, "share of samples whose painting is the photo itself (the network "
                               "learns to leave a photo as it is for its own style: strength 0's end)",
                               minimum=0, maximum=1)
    ema: float = option(0.995, "decay of the exponential moving average of the weights that is written "
                        "(0: the last weights); a resumed run may change it", minimum=0, maximum=0.99999)
    hold_out: int = option(48, "photos kept out of training (the shipped network's rule and count)", minimum=0)
    hold_out_paintings: int = option(120, "paintings kept out of training, by the same rule", minimum=0)
    base: str = option("styles", "the several-style network whose convolutions start the training",
                       metavar="MODEL")
    checkpoint_every: int = option(50, "steps between checkpoints", minimum=1)
    seed: int = option(0, "seed for initial weights, crops and pairings", minimum=0, maximum=2**32 - 1)
    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def validate(self) -> None:
        check(self)
        if self.image_size % 4:
            raise OptionError("image_size", "{name} must be a multiple of 4")
        from .layer_names import check_layers

        check_layers("vgg16", list(self.content_layers) + list(self.style_layers))
        if len(self.style_sizes) != 2 or self.style_sizes[0] > self.style_sizes[1]:
            raise OptionError("style_sizes", "{name} must be two sizes, the smaller first")


@dataclass
class StylizeConfig(Config):
    """Options of `impasto stylize`, with their defaults."""

    size: int | None = option(None, "rescale the long side first (default: the input's size)",
                              kind=int, minimum=MIN_SIDE)
    preserve_color: str = option("none", "keep the photo's colours: luminance or histogram",
                                 choices=PRESERVE_COLOR)
    mix: str | None = option(None, "blend styles of one several-style model, e.g. "
                             "starry_night=0.6,the_scream=0.4 (weights are normalised to sum to 1)",
                             kind=str, metavar="NAME=W,...")
    strength: float = option(1.0, "how much style, 0 (the photo) to 1 (the full stylization): with "
                             "--style the photo's own style embedding blended with the painting's "
                             "(feature space), with --model the stylized pixels over the photo's",
                             minimum=0, maximum=1)
    style_blend: tuple[float, ...] | None = option(None, "weights of several --style paintings, e.g. "
                                                   "0.7,0.3 (normalised to sum to 1; --style then takes "
                                                   "as many paintings as weights)", kind=float, minimum=0,
                                                   sequence=True, metavar="W[,W...]")
    style_scale: float = option(1.0, "brush size relative to the default: above 1 larger strokes, below 1 "
                                "finer ones (the painting is read at 256 / STYLE_SCALE px on its long side)",
                                minimum=0.25, maximum=4)
    style_network: str | None = option(None, "the arbitrary-style network that reads --style paintings "
                                       "(default: the shipped one)", kind=str, metavar="FILE")
    mask: str | None = option(None, "image whose colours mark regions, each painted in its region style "
                              "(any painting: one pass per region, composited by the mask)", kind=str)
    region_styles: tuple[tuple[str, str], ...] = option(
        (), "painting for the mask's COLOUR (#rrggbb, r,g,b, grey level or name); repeat per region. "
        "Regions without one keep the photo", kind=tuple, flag="--region-style", metavar="COLOUR=PAINTING")
    max_memory: float | None = option(
        None, "refuse an image estimated to need more than this many GiB (default: the memory "
        "available now; 0: no check)", kind=float, minimum=0, metavar="GIB")
    runtime: str = option("auto", "torch; openvino or onnx (onnxruntime, fp32 only), both from an "
                          "ONNX export made once into the cache; or auto: on a CPU openvino for a "
                          f"video's frames and for more than {AUTO_EXPORT_MAX_INPUTS} images in at most "
                          f"{OPENVINO_SHAPES} sizes (exported then), and for up to {AUTO_EXPORT_MAX_INPUTS} "
                          "images once the export is cached (no torch start-up; with --style, onnx "
                          "for one photo, which starts sooner); torch otherwise",
                          choices=("auto", "torch", "openvino", "onnx"))
    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def validate(self) -> None:
        check(self)
        if bool(self.mask) != bool(self.region_styles):
            raise OptionError("mask", "a mask and region styles go together")


@dataclass
class EvaluateConfig(Config):
    """Options of `impasto evaluate` (Johnson et al.'s Table 1)."""

    iterations: tuple[int, ...] = option((50, 100, 300), "L-BFGS iterations to compare with",
                                         minimum=1, metavar="N[,N...]")
    size: int = option(256, "long side of each photo", minimum=MIN_SIDE)
    seed: int = option(0, "seed for the noise start", minimum=0, maximum=2**32 - 1)
    range_weight: float = option(10.0, "pixel-range penalty of the L-BFGS runs, relative to the "
                                 "starting loss (as in optimize)", minimum=0)
    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def validate(self) -> None:
        check(self)


@dataclass
class AudioConfig(Config):
    """Options of `impasto audio` (Ulyanov & Lebedev 2016: style transfer on spectrograms)."""

    sample_rate: int = option(22050, "common sample rate: both clips are resampled to it, and the "
                              "output has it", minimum=1000, maximum=384000)
    start: float = option(0.0, "seconds into each input to start from", minimum=0, maximum=MAX_AUDIO_SECONDS)
    duration: float | None = option(None, "seconds of each input to use (default: all); with "
                                    "--texture, the output's length (default: the style's)",
                                    kind=float, above=0, maximum=MAX_AUDIO_SECONDS)
    n_fft: int = option(2048, "STFT window in samples (hop: a quarter of it)", minimum=16)
    filters: int = option(4096, "random 1-D convolution filters over the log-magnitude spectrogram",
                          minimum=1)
    filter_width: int = option(11, "width of each filter in STFT frames", minimum=1)
    seed: int = option(0, "seed of the random filters and of the noise start", minimum=0,
                       maximum=2**32 - 1)
    content_weight: float = option(1.0, "alpha: weight of the content loss", minimum=0)
    style_weight: float = option(1e3, "beta: weight of the style loss", minimum=0)
    iterations: int = option(200, "L-BFGS iterations on the log-magnitude spectrogram", minimum=0)
    init: str = option("content", "start from the content's spectrogram or from noise (a texture "
                       "always starts from noise)", choices=("content", "noise"))
    griffin_lim_iterations: int = option(100, "Griffin-Lim phase-recovery iterations (fast "
                                         "Griffin-Lim, momentum 0.99)", minimum=0)
    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def validate(self) -> None:
        check(self)


@dataclass
class VideoConfig(StylizeConfig):
    """Options of `impasto video`: those of stylize (size, colour, mix, runtime, device,
    precision), then the clip's part and temporal consistency (Ruder et al. 2016)."""

    start: float = option(0.0, "seconds into the clip to start from", minimum=0)
    duration: float | None = option(None, "seconds of the clip to stylize (default: to the end)",
                                    kind=float, above=0)
    temporal: bool = option(True, "temporal consistency: blend the previous stylized frame, warped "
                            "by the optical flow, into each frame where the flow is reliable")
    temporal_weight: float = option(0.7, "share of the warped previous frame in reliable pixels",
                                    minimum=0, maximum=1)
    flow: str = option("fast", "DIS optical-flow preset", choices=("ultrafast", "fast", "medium"))
    measure: bool = option(True, "measure the warping errors (Lai et al. 2018) of the output, of "
                           "frame-by-frame stylization and of the input")
    method: str = option("fast", "fast: a style network (--model) or any painting (--style); optimize: Gatys et al.'s "
                         "optimization of every frame (--style; slow, minutes per frame on a CPU), each "
                         "starting from the warped previous result with Ruder et al.'s temporal loss",
                         choices=("fast", "optimize"))
    style: str | None = option(None, "the painting: with --method fast any painting in one pass per frame "
                               "(in place of --model; Ghiasi et al.), with --method optimize the one "
                               "optimized for", kind=str, metavar="IMAGE")
    iterations: int = option(100, "--method optimize: L-BFGS iterations for the first frame (later "
                             "frames, starting from the previous result, take half)", minimum=1)
    temporal_loss_weight: float = option(1e5, "--method optimize: gamma, the weight of the temporal "
                                         "loss", minimum=0)


@dataclass
class ServeConfig(Config):
    """Options of `impasto serve`, the local web app."""

    host: str = option("127.0.0.1", "address to listen on; any but loopback requires an access token")
    port: int = option(8000, "port to listen on", minimum=0, maximum=65535)
    data: str | None = option(None, "folder for jobs and results (default: the user data folder, "
                              "~/.local/share/impasto/serve)", kind=str, metavar="DIR")
    token: str | None = option(None, "access token to require (made and printed once when another "
                               "host than loopback is given without one)", kind=str)
    max_upload_mb: float = option(25.0, "largest upload accepted, in MB", above=0)
    max_pixels: int = option(40_000_000, "largest image accepted, in pixels", minimum=1)
    max_video_seconds: float = option(120.0, "longest video clip accepted, in seconds", above=0)
    quota_mb: float = option(5000.0, "most the data folder may hold, in MB", above=0)
    cluster: str | None = option(None, "run the jobs on a Ray cluster's workers: auto (a running cluster, else "
                                 "a local one), ray://HOST:PORT or HOST:PORT; the job record stays here",
                                 kind=str, metavar="ADDRESS")
    train_data: str | None = option(None, "folder of photos to learn uploaded paintings on, as new fast "
                                    "styles of the shipped network (without it the app does not learn)",
                                    kind=str, metavar="DIR")
    max_size: int = option(2048, "largest long side a job may ask for, in pixels", minimum=MIN_SIDE)
    max_iterations: int = option(2000, "most optimizer iterations a best-quality job may ask for", minimum=1)
    prune: bool = option(False, "when the quota is reached, delete the oldest finished jobs instead "
                         "of refusing new ones")

    def validate(self) -> None:
        check(self)
