"""Image input and output: loading any photo safely as RGB, resizing, tensors, atomic saving."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImpastoError
from .files import atomic_path

log = logging.getLogger("impasto")

MIN_SIDE = 16
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_SIXTEEN_BIT = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


def load_image(source: str | os.PathLike | Image.Image, what: str = "image") -> Image.Image:
    """Open `source` as an RGB image, or raise ImpastoError with a one-line reason.

    EXIF orientation is applied; grayscale, palette, 16-bit and CMYK become RGB; transparency is
    composited on white (and logged, since the user may not expect it).
    """
    if isinstance(source, Image.Image):
        image, name = source, what
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
            raise ImpastoError(f"{name} is corrupt or truncated ({exc})") from None
    image = ImageOps.exif_transpose(image)
    if min(image.size) < MIN_SIDE:
        raise ImpastoError(
            f"{name} is {image.width}x{image.height}; images need at least {MIN_SIDE} px on each side"
        )
    return to_rgb(image, name)


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


def resize_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Scale so the longer side is `long_side` pixels, keeping the aspect ratio."""
    scale = long_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor of shape (1, 3, H, W) in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (1, C, H, W) or (C, H, W), C = 3 or 1, in [0, 1] -> RGB PIL image (clamped)."""
    tensor = tensor.detach().float().cpu().squeeze(0).clamp(0, 1)
    if tensor.shape[0] == 1:  # a single (luminance) channel: grey
        tensor = tensor.expand(3, -1, -1)
    array = (tensor.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array, "RGB")


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, before any work, if `path` cannot be written as an image."""
    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise ImpastoError(
            f"output '{path}' must end in .png, .jpg or .jpeg (got '{path.suffix or 'no extension'}')"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ImpastoError(f"output folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK):
        raise ImpastoError(f"output folder '{parent}' is not writable")
    if path.is_dir():
        raise ImpastoError(f"output '{path}' is a folder")
    return path


def save_image(image: Image.Image, path: str | os.PathLike) -> Path:
    """Write PNG or JPEG (by extension) atomically: a temporary file in the same folder, then rename."""
    path = check_output_path(path)
    fmt = SAVE_FORMATS[path.suffix.lower()]
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path

