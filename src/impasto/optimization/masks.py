"""Spatial control (Gatys et al. 2017, section 4): a mask whose colours mark regions, one style per
region. Each region becomes a guide channel T_r in 0..1 at the output's size; the loss network
sees it downsampled to every layer (losses.style_loss with `guide`)."""

from __future__ import annotations

import os
from typing import Iterable, Mapping

import numpy as np
import torch
from PIL import Image, ImageColor

from ..core.errors import ImpastoError
from ..core.images import load_image

COLOUR_TOLERANCE = 48  # a mask pixel within this of a listed colour (per channel) belongs to it


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#ff0000', 'ff0000', 'red', '255,0,0' or a grey level '128' -> (r, g, b)."""
    text = text.strip()
    try:
        if text.isdigit():
            grey = int(text)
            if grey > 255:
                raise ValueError
            return grey, grey, grey
        if "," in text:
            rgb = tuple(int(part) for part in text.split(","))
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
            return rgb  # type: ignore[return-value]
        if len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text):
            text = "#" + text
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise ImpastoError(f"cannot read {text!r} as a colour; use #rrggbb, r,g,b, a grey level "
                           "0..255 or a colour name") from None


def parse_region_style(text: str) -> tuple[str, str]:
    """'COLOUR=STYLE.jpg' -> (colour, path); the colour is checked here, the file when loaded."""
    colour, sep, path = text.partition("=")
    if not sep or not colour.strip() or not path.strip():
        raise ImpastoError(f"a region style is COLOUR=STYLE.jpg, not {text!r}")
    parse_colour(colour)
    return colour.strip(), path.strip()


def region_pairs(regions: Mapping[str, object] | Iterable[tuple[str, object]]) -> list[tuple[str, object]]:
    """Accept {colour: style} or [(colour, style), ...] (styles: paths or PIL images)."""
    items = list(regions.items()) if isinstance(regions, Mapping) else list(regions)
    colours = [parse_colour(str(colour)) for colour, _ in items]
    if len(set(colours)) != len(colours):
        raise ImpastoError("the same mask colour is given two styles")
    return items


def load_guides(mask: str | os.PathLike | Image.Image, colours: list[str], size: tuple[int, int]
                ) -> torch.Tensor:
    """Guide channels (R, 1, H, W) in 0..1 for the listed colours, at `size` = (width, height).

    Mask pixels go to the nearest listed colour within COLOUR_TOLERANCE (so anti-aliased and JPEG
    masks work); other pixels belong to no styled region. Edges come out soft from the resize."""
    picture = load_image(mask, "mask")
    width, height = size
    if abs(picture.width / picture.height - width / height) > 0.02 * (width / height):
        raise ImpastoError(f"the mask is {picture.width}x{picture.height} but the photo is "
                           f"{width}x{height}: give a mask with the photo's aspect ratio")
    pixels = torch.from_numpy(np.asarray(picture, dtype=np.int16).copy())  # (h, w, 3)
    targets = torch.tensor([parse_colour(c) for c in colours], dtype=torch.int16)  # (R, 3)
    distance = (pixels[None] - targets[:, None, None]).abs().amax(dim=-1)       # (R, h, w)
    nearest = distance.argmin(dim=0)
    guides = torch.stack([(nearest == r) & (distance[r] <= COLOUR_TOLERANCE)
                          for r in range(len(colours))]).float()
    for colour, guide in zip(colours, guides):
        if not guide.any():
            raise ImpastoError(f"colour {colour!r} does not occur in the mask")
    guides = torch.nn.functional.interpolate(guides[:, None], size=(height, width), mode="bilinear",
                                             antialias=True, align_corners=False)
    return guides.clamp(0, 1)
