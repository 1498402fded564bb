"""Image input and output: loading any photo safely as RGB, resizing, tensors, atomic saving."""

from __future__ import annotations

import glob
import math
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import MIN_SIDE
from .errors import ImpastoError, OutputError
from .files import atomic_path, check_writable

if TYPE_CHECKING:
    import torch

log = logging.getLogger("impasto")

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm"}
ImageInput = str | os.PathLike | Image.Image | np.ndarray
_SIXTEEN_BIT = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


def load_image(source: ImageInput, what: str = "image", long_side: int | None = None) -> Image.Image:
    """Open `source` as an RGB image, or raise ImpastoError with a one-line reason.

    `source`: a file path, a PIL image, or an array (H, W, 3) or (H, W): uint8 0..255 or float
    0..1. EXIF orientation is applied; grayscale, palette, 16-bit and CMYK become RGB;
    transparency is composited on white (and logged, since the user may not expect it).
    `long_side`: the caller will resize it to this, so a JPEG may be decoded at a power-of-two
    fraction of its size no smaller than that (libjpeg's DCT scaling, as Image.thumbnail does):
    a large photo decodes in a fraction of the time.
    """
    if isinstance(source, np.ndarray):
        image, name = from_array(source, what), what
    elif isinstance(source, Image.Image):
        image, name = source, what
    elif not isinstance(source, (str, os.PathLike)):
        raise ImpastoError(f"the {what} must be a file path, a PIL image or an array, not {type(source).__name__}")
    else:
        path = Path(source)
        name = f"{what} '{path}'"
        if not path.exists():
            raise ImpastoError(f"{name} does not exist")
        if not path.is_file():
            raise ImpastoError(f"{name} is not a file")
        try:
            with warnings.catch_warnings():
                # Pillow only warns between 1x and 2x its pixel limit; a bomb is an error for us.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(path)
                if long_side and image.format == "JPEG" and max(image.size) >= 2 * long_side:
                    scale = long_side / max(image.size)
                    image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
                image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImpastoError(
                f"{name} is too large to decode safely (over {Image.MAX_IMAGE_PIXELS} pixels)"
            ) from None
        except UnidentifiedImageError:
            raise ImpastoError(f"{name} is not an image file Pillow can read") from None
        except PermissionError:
            raise ImpastoError(f"{name} cannot be read: permission denied") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImpastoError(f"{name} is corrupt or truncated ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        except Exception as exc:  # noqa: BLE001 - decoders raise many types on hostile files
            raise ImpastoError(f"{name} cannot be decoded ({type(exc).__name__})") from None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block: keep the pixels as stored
        pass
    if min(image.size) < MIN_SIDE:
        raise ImpastoError(
            f"{name} is {image.width}x{image.height}; images need at least {MIN_SIDE} px on each side"
        )
    return to_rgb(image, name)


def from_array(array: np.ndarray, what: str = "image") -> Image.Image:
    """An (H, W, 3), (H, W, 4) or (H, W) array as a PIL image: uint8 as is, floats as 0..1."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ImpastoError(f"{what} array has shape {array.shape}; give (H, W, 3) or (H, W)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImpastoError(f"{what} array holds NaN or infinite values")
        array = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImpastoError(f"{what} array is {array.dtype}; give uint8 (0..255) or float (0..1)")
    return Image.fromarray(np.ascontiguousarray(array))


def to_rgb(image: Image.Image, name: str = "image") -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB."""
    if image.mode in _SIXTEEN_BIT:
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 / 65535.0 if values.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(values * scale + 0.5, 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0
        image = Image.fromarray(np.clip(values * scale + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            log.warning("note: %s has transparency; composited on white", name)
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def long_side_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `long_side` pixels, keeping the aspect ratio."""
    scale = long_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def resize_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Scale so the longer side is `long_side` pixels, keeping the aspect ratio."""
    size = long_side_size(image.size, long_side)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def check_side(size: tuple[int, int], what: str, advice: str) -> None:
    """The networks need MIN_SIDE px on each side of what actually reaches them (after resizing)."""
    if min(size) < MIN_SIDE:
        raise ImpastoError(f"{what} would be {size[0]}x{size[1]} px; the networks need at least "
                           f"{MIN_SIDE} px on each side ({advice})")


def to_array(image: Image.Image) -> np.ndarray:
    """RGB PIL image -> float32 array (1, 3, H, W) in [0, 1] (what the networks take)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(array.transpose(2, 0, 1)[None])


def from_planes(array: np.ndarray) -> Image.Image:
    """Float array (1, C, H, W) or (C, H, W), C = 3 or 1, in [0, 1] -> RGB PIL image (clamped)."""
    array = np.clip(array.reshape(array.shape[-3:]), 0, 1)
    if array.shape[0] == 1:  # a single (luminance) channel: grey
        array = np.repeat(array, 3, axis=0)
    return Image.fromarray((array.transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8), "RGB")


def to_tensor(image: Image.Image) -> "torch.Tensor":
    """RGB PIL image -> float tensor of shape (1, 3, H, W) in [0, 1]."""
    import torch  # here, so that loading and saving images never needs torch

    return torch.from_numpy(to_array(image))


def to_image(tensor: "torch.Tensor") -> Image.Image:
    """Float tensor (1, C, H, W) or (C, H, W), C = 3 or 1, in [0, 1] -> RGB PIL image (clamped)."""
    return from_planes(tensor.detach().float().cpu().numpy())


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, before any work, if `path` cannot be written as an image."""
    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise ImpastoError(
            f"output '{path}' must end in .png, .jpg or .jpeg (got '{path.suffix or 'no extension'}')"
        )
    if path.is_dir():
        raise OutputError(f"output '{path}' is a folder")
    check_writable(path.parent)
    return path


# zlib level of the PNGs written: 3 encodes in about half the time of Pillow's default 6, for files
# about 7 % larger (bench/RESULTS.md, the whole one-photo command)
PNG_LEVEL = 3


def save_image(image: Image.Image, path: str | os.PathLike) -> Path:
    """Write PNG or JPEG (by extension) atomically: a temporary file in the same folder, then rename."""
    path = check_output_path(path)
    fmt = SAVE_FORMATS[path.suffix.lower()]
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {"compress_level": PNG_LEVEL}))
    return path


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files, folders (their images, recursively) and glob patterns -> image paths, in order."""
    if isinstance(inputs, (str, os.PathLike)):  # one input, not a sequence of characters
        inputs = [inputs]
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists():
            paths.append(path)
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise ImpastoError(f"no files match '{item}'")
            paths += matches
        else:
            raise ImpastoError(f"input image '{item}' does not exist")
    if not paths:
        raise ImpastoError("no input images found")
    return paths
