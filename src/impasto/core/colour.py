"""Colour control (Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual Factors in
Neural Style Transfer", CVPR 2017, section 5).

Two ways to keep the photo's colours:
- luminance-only transfer: stylize the luminance channel Y of YIQ, keep the photo's I and Q;
- colour histogram matching: give the painting the photo's colour mean and covariance first.
Images are float tensors (B, 3, H, W), RGB, 0..1.
"""

from __future__ import annotations

import torch

# YIQ (NTSC): Y is luminance, I and Q carry the colour.
RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                           [0.595716, -0.274453, -0.321263],
                           [0.211456, -0.522591, 0.311135]])
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> YIQ."""
    return torch.einsum("ij,bjhw->bihw", RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", YIQ_TO_RGB.to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Y of YIQ, (B, 1, H, W)."""
    return rgb_to_yiq(image)[:, :1]


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """The paper's luminance histogram matching: L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c, so
    the style's luminance has the photo's mean and standard deviation."""
    mu_s, sigma_s = style_y.mean(), style_y.std(unbiased=False)
    mu_c, sigma_c = content_y.mean(), content_y.std(unbiased=False)
    return (style_y - mu_s) * (sigma_c / sigma_s.clamp_min(1e-6)) + mu_c


def keep_colours(stylized: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """The stylized image's luminance with the photo's chroma (I, Q), back in RGB, clamped.
    `stylized` may be a single luminance channel (B, 1, H, W)."""
    y = stylized if stylized.shape[1] == 1 else luminance(stylized)
    yiq = torch.cat([y, rgb_to_yiq(photo)[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def colour_statistics(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (3,) and covariance (3, 3) of the pixels' RGB values, in float64."""
    pixels = image.double().permute(1, 0, 2, 3).reshape(3, -1)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / pixels.shape[1]


def _sqrt_psd(matrix: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Symmetric square root (or inverse square root) of a covariance matrix."""
    values, vectors = torch.linalg.eigh(matrix)
    values = values.clamp_min(1e-10)
    roots = values.rsqrt() if inverse else values.sqrt()
    return vectors @ torch.diag(roots) @ vectors.T


def match_colour_histogram(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """x' = A (x - mu_s) + mu_r with A = Sigma_r^(1/2) Sigma_s^(-1/2): the paper's colour transfer
    ("Image Analogies" variant, symmetric roots, which keeps hues closer than Cholesky). The result
    has exactly the reference's colour mean and covariance; it is not clamped, so that stays true
    (the loss network takes values slightly outside 0..1 without trouble)."""
    mu_s, sigma_s = colour_statistics(source)
    mu_r, sigma_r = colour_statistics(reference)
    a = _sqrt_psd(sigma_r) @ _sqrt_psd(sigma_s, inverse=True)
    pixels = source.double().permute(1, 0, 2, 3).reshape(3, -1)
    matched = a @ (pixels - mu_s[:, None]) + mu_r[:, None]
    batch, _, height, width = source.shape
    return matched.reshape(3, batch, height, width).permute(1, 0, 2, 3).to(source.dtype).contiguous()
