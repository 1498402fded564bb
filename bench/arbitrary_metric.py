"""The held-out measure of issue 42, per (photo, painting) pair:

    content = mean (phi_relu4_2(out) - phi_relu4_2(photo))^2
    style   = sum_{l in relu1_1..relu5_1} mean (G_l(out) - G_l(painting))^2,   G_l = F F^T / (C_l H_l W_l)

on impasto's VGG16 in fp32, the painting read at its own size capped at 512 px on the long side.
"""

from __future__ import annotations

import torch
from PIL import Image

from impasto.core.images import resize_long_side, to_tensor
from impasto.losses.terms import normalised_gram
from impasto.nets import load_vgg

CONTENT = "relu4_2"
STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
PAINTING_MAX = 512


class Measure:
    def __init__(self):
        torch.set_grad_enabled(False)
        self.vgg = load_vgg([CONTENT, *STYLE])
        self._grams: dict[str, dict] = {}
        self._content: dict[str, torch.Tensor] = {}

    def features(self, image: Image.Image) -> dict[str, torch.Tensor]:
        return self.vgg(to_tensor(image.convert("RGB")), [CONTENT, *STYLE])

    def painting(self, key: str, image: Image.Image) -> dict[str, torch.Tensor]:
        if key not in self._grams:
            if max(image.size) > PAINTING_MAX:
                image = resize_long_side(image, PAINTING_MAX)
            f = self.features(image)
            self._grams[key] = {l: normalised_gram(f[l]) for l in STYLE}
        return self._grams[key]

    def photo(self, key: str, image: Image.Image) -> torch.Tensor:
        if key not in self._content:
            self._content[key] = self.features(image)[CONTENT]
        return self._content[key]

    def __call__(self, out: Image.Image, photo_key: str, photo: Image.Image, painting_key: str,
                 painting: Image.Image) -> tuple[float, float]:
        if out.size != photo.size:
            out = out.resize(photo.size, Image.Resampling.LANCZOS)
        f = self.features(out)
        content = float((f[CONTENT] - self.photo(photo_key, photo)).pow(2).mean())
        grams = self.painting(painting_key, painting)
        style = float(sum((normalised_gram(f[l]) - grams[l]).pow(2).mean() for l in STYLE))
        return content, style
