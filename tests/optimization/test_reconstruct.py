"""Gatys et al. Fig. 1: reconstructions from noise of one layer's content or a set of layers' style."""

import numpy as np
from PIL import Image

from impasto import reconstruct, reconstruction_grid
from impasto.core.images import load_image, resize_long_side


def test_content_from_relu1_1_recovers_the_photo(content_path):
    result = reconstruct(content_path, "content", ["relu1_1"], size=48, iterations=60, progress=False)
    photo = np.asarray(resize_long_side(load_image(content_path), 48), dtype=float)
    noise_error = np.abs(np.random.default_rng(0).random(photo.shape) * 255 - photo).mean()
    error = np.abs(np.asarray(result.image, dtype=float) - photo).mean()
    assert error < noise_error / 4
    assert result.total_loss < result.initial_total_loss / 100


def test_style_reconstruction_matches_grams_not_layout(style_path):
    result = reconstruct(style_path, "style", ["relu1_1", "relu2_1"], size=48, iterations=40,
                         progress=False)
    assert result.style_loss < result.initial_style_loss / 20
    assert result.content_loss == 0


def test_grid_has_input_and_five_labelled_tiles(tmp_path, content_path):
    out = tmp_path / "grid.png"
    grid = reconstruction_grid(content_path, "style", size=32, iterations=3, progress=False, output=out)
    saved = Image.open(out)
    assert saved.size == grid.image.size
    assert grid.width > 6 * 32 and grid.height > 24
