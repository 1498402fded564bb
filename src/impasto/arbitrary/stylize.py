"""Stylizing with any painting in one pass (Ghiasi et al. 2017).

    S = sum_i b_i P(s_i)                       several paintings: their embeddings blended (section 5.2)
    S(strength) = (1 - strength) P(x) + strength S    toward the photo's own embedding (section 5.3)
    y = f_W(x, (S, 1))

The photo's own embedding is the end where the network leaves the photo as it is (it is trained on
photos as their own style); strength 0 returns the photo itself. A painting read smaller gives
larger strokes: --style-scale k reads it at STYLE_SIDE / k on its long side.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image, ImageStat

from ..core.errors import ImpastoError
from ..core.images import ImageInput, check_side, load_image, resize_long_side, to_array

if TYPE_CHECKING:
    from ..core.cache import NetworkCache
    from ..core.placement import Placement

STYLE_SIDE = 256          # a painting's long side at style scale 1 (the top of what training drew)
MIN_PAINTING_SIDE = 32    # below this a painting holds too few strokes to read a style from
FLAT = 2.0 / 255.0        # a painting whose pixels vary less than this has no style to read
KEEP_PAINTINGS = 64       # embeddings kept by a loaded network (the web app's recent uploads)
KEEP_ON_DISK = 512        # embeddings kept in the cache folder (100 floats each)


# --- the paintings ------------------------------------------------------------------------------

def load_painting(source: ImageInput, what: str = "painting") -> Image.Image:
    """A painting as RGB, or a one-line error: unreadable, tiny, transparent (a transparent area
    has no colour to take: composited on white it would paint white), or flat (one colour)."""
    name = f"{what} '{source}'" if isinstance(source, (str, os.PathLike)) else what
    if _transparent(source):  # before load_image, which would composite it (and say so)
        raise ImpastoError(f"{name} has transparent pixels, which have no colour to paint with; "
                           "flatten it onto a background first")
    image = load_image(source, what)
    if min(image.size) < MIN_PAINTING_SIDE:
        raise ImpastoError(f"{name} is {image.width}x{image.height}; a painting needs at least "
                           f"{MIN_PAINTING_SIDE} px on each side to read its style from")
    if max(ImageStat.Stat(image).stddev) / 255.0 < FLAT:  # from the histogram: no float copy of the pixels
        raise ImpastoError(f"{name} is a single flat colour: it has no brushwork or palette to take "
                           "as a style")
    return image


def _transparent(source: ImageInput) -> bool:
    if isinstance(source, np.ndarray):
        return source.ndim == 3 and source.shape[2] == 4 and bool((source[..., 3] < (255 if source.dtype == np.uint8 else 1)).any())
    try:
        image = source if isinstance(source, Image.Image) else Image.open(source)
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        if image.mode not in ("RGBA", "LA", "PA", "La", "RGBa"):
            return False
        return image.convert("RGBA").getextrema()[3][0] < 255
    except (OSError, ValueError):
        return False  # load_image has already read it: nothing more to learn here


def painting_key(image: Image.Image) -> str:
    return hashlib.sha256(image.tobytes() + repr(image.size).encode()).hexdigest()


def style_side(scale: float) -> int:
    return max(MIN_PAINTING_SIDE, round(STYLE_SIDE / scale))


def blend_weights(count: int, blend: Sequence[float] | None) -> list[float]:
    if blend is None:
        if count > 1:
            raise ImpastoError(f"{count} paintings need their blend weights (style_blend / --style-blend)")
        return [1.0]
    if len(blend) != count:
        raise ImpastoError(f"{count} painting(s) and {len(blend)} blend weight(s): give one weight per painting")
    total = sum(blend)
    if total <= 0:
        raise ImpastoError("the blend weights must not all be 0")
    return [w / total for w in blend]


# --- the network --------------------------------------------------------------------------------

class Stylizer:
    """A loaded arbitrary-style network and the last paintings' embeddings: what an Engine keeps
    between calls. `predict` (a painting at its style size -> S) and `transform` (photo, S -> the
    stylized photo) run on torch or OpenVINO."""

    runtime = ""
    model_digest = ""  # the network file's SHA-256: names its paintings' embeddings on disk

    def __init__(self):
        self.embeddings: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def embedding(self, image: Image.Image, side: int) -> np.ndarray:
        """P(s) (EMBEDDING,) for a painting read at `side` on its long side: kept in memory, and on
        disk (the cache folder's embeddings/) so that the next command with the painting skips it."""
        key = (painting_key(image), side)
        if key not in self.embeddings:
            stored = self._stored(key)
            if stored is None:
                painting = resize_long_side(image, side)
                check_side(painting.size, "the painting at its style size", "use a smaller --style-scale")
                stored = self.predict(to_array(painting))
                self._store(key, stored)
            self.embeddings[key] = stored
            while len(self.embeddings) > KEEP_PAINTINGS:
                self.embeddings.popitem(last=False)
        self.embeddings.move_to_end(key)
        return self.embeddings[key]

    def _file(self, key: tuple) -> Path | None:
        if not self.model_digest:
            return None
        from ..core.files import cache_dir

        return cache_dir() / "embeddings" / f"{self.model_digest[:16]}-{key[0][:32]}-{key[1]}.npy"

    def _stored(self, key: tuple) -> np.ndarray | None:
        path = self._file(key)
        try:
            value = np.load(path, allow_pickle=False) if path is not None and path.is_file() else None
        except (OSError, ValueError):
            return None  # unreadable: computed again and rewritten
        return value if value is not None and value.ndim == 1 and np.isfinite(value).all() else None

    def _store(self, key: tuple, value: np.ndarray) -> None:
        path = self._file(key)
        if path is None:
            return
        from ..core.files import atomic_path

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, value.astype(np.float32))
            stored = sorted(path.parent.glob("*.npy"), key=lambda p: p.stat().st_mtime)
            for old in stored[:-KEEP_ON_DISK]:
                old.unlink(missing_ok=True)
        except OSError:
            pass  # no writable cache: the painting is read again next time

    def predict(self, painting: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transform(self, photo: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class TorchStylizer(Stylizer):
    runtime = "torch"

    def __init__(self, net, vgg, placement: "Placement"):
        super().__init__()
        self.net, self.vgg, self.placement = net, vgg, placement

    def predict(self, painting: np.ndarray) -> np.ndarray:
        import torch

        from .prediction import STYLE_LAYERS, statistics

        with torch.inference_mode():
            features = self.vgg(self.placement.tensor(torch.from_numpy(painting)), list(STYLE_LAYERS))
            return self.net.prediction(statistics(features)).float()[0].numpy()

    def transform(self, photo: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        import torch

        from .prediction import style_weights

        with torch.inference_mode():
            x = self.placement.tensor(torch.from_numpy(photo))
            with self.placement.autocast():
                y = self.net.transformer(x, style_weights(torch.from_numpy(embedding)[None].float()))
            self.placement.synchronize()
            return y.float().cpu().numpy()


class OpenVinoStylizer(Stylizer):
    """Both graphs of arbitrary/export.py under OpenVINO (bf16 where the CPU has it): no torch in the process. The painting's
    graph is compiled once for any size; the transformer's per photo size, as for trained models."""

    runtime = "openvino"

    def __init__(self, prediction: Path, transformer: Path, precision: str = "auto"):
        super().__init__()
        from ..feedforward.runners import OpenVinoRunner

        self.transformer = OpenVinoRunner(transformer, precision=precision, style_per_call=True)
        self.prediction_file, self.prediction = prediction, None  # compiled when a painting is new
        self.lock = self.transformer.lock

    def predict(self, painting: np.ndarray) -> np.ndarray:
        with self.lock:
            if self.prediction is None:
                from ..feedforward.runners import last_line

                core = self.transformer.core
                try:
                    compiled = core.compile_model(str(self.prediction_file), "CPU", self.transformer.settings)
                except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own error types
                    raise ImpastoError(f"cannot load '{self.prediction_file}': {last_line(exc)}") from None
                self.prediction = compiled.create_infer_request()
            return np.array(self.prediction.infer({"painting": painting})[0][0], dtype=np.float32)

    def transform(self, photo: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        return self.transformer(photo, np.append(embedding, 1.0))


class OnnxStylizer(Stylizer):
    """Both graphs of arbitrary/export.py under onnxruntime, in fp32: no torch in the process, and
    the runtime that starts soonest (the one-photo command's)."""

    runtime = "onnx"

    def __init__(self, prediction: Path, transformer: Path):
        super().__init__()
        from ..feedforward.runners import OnnxRunner

        self.transformer = OnnxRunner(transformer, style_per_call=True)
        self.prediction_file, self.prediction = prediction, None  # loaded when a painting is new

    def predict(self, painting: np.ndarray) -> np.ndarray:
        if self.prediction is None:
            from ..feedforward.runners import onnx_session

            self.prediction = onnx_session(self.prediction_file)
        return np.array(self.prediction.run(None, {"painting": painting})[0][0], dtype=np.float32)

    def transform(self, photo: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        return self.transformer(photo, np.append(embedding, 1.0))


def cached_stylizer(cache: "NetworkCache", model: str | os.PathLike | None = None, runtime: str = "torch",
                    device: str = "auto", precision: str = "auto") -> Stylizer:
    """The arbitrary-style network `model` (default: the shipped one) on `runtime`, loaded once per
    cache."""
    from ..core.cache import file_key
    from . import SHIPPED

    path = Path(model) if model is not None else SHIPPED
    if not path.is_file():
        raise ImpastoError(f"arbitrary-style network '{path}' not found")
    from ..core.files import file_sha256

    def named(stylizer: Stylizer) -> Stylizer:
        stylizer.model_digest = file_sha256(path)
        return stylizer
    if runtime == "openvino":
        from .export import cached_exports

        precision = cache.precision if precision == "auto" else precision
        return cache.get(("arbitrary", "openvino", file_key(path), precision),
                         lambda: named(OpenVinoStylizer(*cached_exports(path), precision)))
    if runtime == "onnx":
        from .export import cached_exports

        return cache.get(("arbitrary", "onnx", file_key(path)),
                         lambda: named(OnnxStylizer(*cached_exports(path, "onnx"))))
    if runtime != "torch":
        raise ImpastoError(f"--style runs on torch, openvino or onnx, not {runtime}")
    from ..nets import cached_vgg
    from .network import load_arbitrary
    from .prediction import STYLE_LAYERS

    placement = cache.placement(device, precision).for_transformer()

    def load() -> TorchStylizer:
        net, _ = load_arbitrary(path)
        return named(TorchStylizer(placement.module(net.eval(), cast=False),
                                   cached_vgg(cache, STYLE_LAYERS, placement=placement), placement))
    return cache.get(("arbitrary", "torch", file_key(path), placement), load)


# --- one photo ----------------------------------------------------------------------------------

@dataclass
class Styles:
    """The paintings of a call, read once, and how they combine."""

    paintings: list[Image.Image]
    blend: list[float]
    side: int
    strength: float

    @classmethod
    def read(cls, style, blend: Sequence[float] | None, scale: float, strength: float) -> "Styles":
        sources = list(style) if isinstance(style, (list, tuple)) else [style]
        if not sources:
            raise ImpastoError("give at least one painting as the style")
        paintings = [load_painting(s) for s in sources]
        return cls(paintings, blend_weights(len(paintings), blend), style_side(scale), strength)

    def embedding(self, stylizer) -> np.ndarray:
        return sum(w * stylizer.embedding(p, self.side) for p, w in zip(self.paintings, self.blend))


def blended_embedding(stylizer, styles: Styles, photo: np.ndarray) -> np.ndarray:
    embedding = styles.embedding(stylizer)
    if styles.strength < 1:
        own = stylizer.embedding(Image.fromarray(_uint8(photo)), STYLE_SIDE)
        embedding = (1 - styles.strength) * own + styles.strength * embedding
    return embedding


def _uint8(photo: np.ndarray) -> np.ndarray:
    return np.clip(photo[0].transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)


# --- the commands -------------------------------------------------------------------------------

class PaintingRunner:
    """Arrays to arrays, as feedforward's runners: the photo (1, 3, H, W) in 0..1 in the call's
    paintings' style at its strength. With `steady` (a clip's frames) the embedding is taken once,
    from the first frame at a strength below 1, so that it does not flicker with each frame's own
    style."""

    def __init__(self, stylizer, styles: Styles, steady: bool = False):
        self.stylizer, self.styles, self.runtime = stylizer, styles, stylizer.runtime
        self.steady, self.embedding = steady, None

    def __call__(self, photo: np.ndarray) -> np.ndarray:
        if self.styles.strength == 0:
            return photo.copy()
        embedding = self.embedding if self.embedding is not None else \
            blended_embedding(self.stylizer, self.styles, photo)
        if self.steady:
            self.embedding = embedding
        return self.stylizer.transform(photo, embedding)


class RegionRunner:
    """Each region of a mask in its own painting: one pass per painting, composited by the mask's
    soft guides (optimization.masks, made once per photo size); pixels in no listed region keep the
    photo."""

    def __init__(self, stylizer, regions: list[tuple[str, Styles]], mask: str):
        self.runtime = stylizer.runtime
        self.colours = [colour for colour, _ in regions]
        self.runners = [PaintingRunner(stylizer, styles) for _, styles in regions]
        self.mask, self.guides = mask, {}

    def __call__(self, photo: np.ndarray) -> np.ndarray:
        size = (photo.shape[3], photo.shape[2])
        if size not in self.guides:
            from ..optimization.masks import load_guides

            self.guides[size] = load_guides(self.mask, self.colours, size).numpy()
        guides = self.guides[size]
        out = photo * (1 - guides.sum(0)).clip(0, 1)
        for guide, runner in zip(guides, self.runners):
            out = out + guide * runner(photo)
        return out.astype(np.float32)


def check_options(config, model=None, style=None) -> None:
    if config.mask and style is not None:
        raise ImpastoError("with a mask, give each region's painting as a region style (COLOUR=PAINTING) "
                           "instead of --style")
    if config.mask and model is not None:
        raise ImpastoError("a mask's regions take paintings (--region-style COLOUR=PAINTING, any painting in "
                           "one pass), not a trained model")
    if model is not None:
        raise ImpastoError("give either a painting as the style (--style) or a trained model (--model), not both")
    if config.mix:
        raise ImpastoError("--mix blends a model's trained styles; several paintings blend with --style-blend")


def choose_runtime(config, inputs: int, few_sizes: bool) -> str:
    """As for trained models (feedforward.stylize.choose_runtime): `auto` on a CPU takes
    onnxruntime for one photo when its exports are cached (it starts sooner than OpenVINO, whose
    faster pass pays from the second photo on), OpenVINO for a few photos when the exports are
    cached or for many photos of few sizes (exporting them now); torch otherwise, and exports for
    the next command."""
    from ..core.config import AUTO_EXPORT_MAX_INPUTS
    from ..feedforward.stylize import on_cpu

    if config.runtime != "auto":
        return config.runtime
    if not on_cpu(config):
        return "torch"
    from .export import export_paths
    from . import SHIPPED

    model = config.style_network or SHIPPED
    if not Path(model).is_file():
        return "torch"  # the one-line error comes from loading it
    if inputs == 1 and not few_sizes and all(p.is_file() for p in export_paths(model, "onnx")):
        return "onnx"
    if few_sizes or (inputs <= AUTO_EXPORT_MAX_INPUTS and all(p.is_file() for p in export_paths(model))):
        return "openvino"
    return "torch"


def make_runner(style, config, cache: "NetworkCache", inputs: int = 1, few_sizes: bool = False,
                steady: bool = False) -> "PaintingRunner | RegionRunner":
    if config.mask:
        from ..optimization.masks import region_pairs

        regions = [(colour, Styles.read(painting, None, config.style_scale, config.strength))
                   for colour, painting in region_pairs(config.region_styles)]
    else:
        styles = Styles.read(style, config.style_blend, config.style_scale, config.strength)
    runtime = choose_runtime(config, inputs, few_sizes)
    stylizer = cached_stylizer(cache, config.style_network, runtime, config.device, config.precision)
    if runtime == "torch" and config.runtime == "auto" and stylizer.placement.device.type == "cpu":
        _export_for_next_time(config.style_network)
    if config.mask:
        return RegionRunner(stylizer, regions, config.mask)
    return PaintingRunner(stylizer, styles, steady)


def _export_for_next_time(model) -> None:
    from .export import cached_exports
    from . import SHIPPED

    try:
        for runtime in ("openvino", "onnx"):
            cached_exports(model or SHIPPED, runtime)
    except ImpastoError:
        pass  # no writable cache: the torch path works all the same


def stylize(image: ImageInput, style, config=None, progress=None, cache: "NetworkCache | None" = None,
            model=None, **options) -> Image.Image:
    """One photo in the style of one painting or several (`style`: a path, PIL image or array, or a
    list of them with `style_blend`), one forward pass; same size as the photo unless `size`."""
    from ..core.cache import default_cache
    from ..core.config import StylizeConfig
    from ..core.options import configure
    from ..feedforward.stylize import stylize as run

    config = configure(StylizeConfig, config, **options)
    check_options(config, model, style)
    if config.runtime == "auto":  # from Python: the engine's torch path, as for trained models
        config = configure(StylizeConfig, config, runtime="torch")
    cache = cache or default_cache()
    return run(image, None, config, progress, cache, runner=make_runner(style, config, cache))


def stylize_files(inputs, style, output, config=None, progress=None, cache: "NetworkCache | None" = None,
                  model=None, **options):
    """Many files in one painting's (or several paintings') style: a StylizeResult."""
    from ..core.cache import default_cache
    from ..core.config import StylizeConfig
    from ..core.options import configure
    from ..feedforward.stylize import stylize_files as run

    config = configure(StylizeConfig, config, **options)
    check_options(config, model, style)
    cache = cache or default_cache()
    sources = list(style) if isinstance(style, (list, tuple)) else [style]
    sources += [painting for _, painting in config.region_styles] + ([config.mask] if config.mask else [])
    files = [s for s in sources if isinstance(s, (str, os.PathLike))]
    return run(inputs, None, output, config, progress, cache, protected=files,
               make=lambda config, count, few_sizes: make_runner(style, config, cache, count, few_sizes))
