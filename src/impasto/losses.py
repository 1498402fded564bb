"""The perceptual losses, written once, next to the papers' equations.

Notation of Gatys et al. (CVPR 2016): layer l has N_l feature maps of M_l = H_l * W_l positions;
F^l in R^{N_l x M_l} are the features of the image being generated, P^l those of the photo and
A^l the Gram matrix of the painting.
"""

from __future__ import annotations

import torch


def flatten(features: torch.Tensor) -> torch.Tensor:
    """(B, N, H, W) -> (B, N, M): the paper's F^l, one row per feature map."""
    batch, channels, height, width = features.shape
    return features.reshape(batch, channels, height * width)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G^l_ij = sum_k F^l_ik F^l_jk, i.e. G = F F^T (Eq. 3). (B, N, H, W) -> (B, N, N), in fp32.

    Computed as (F^T)^T F^T from a (B, M, N) view: for channels_last features that view is free,
    and the gradient comes back in the same layout as the network's (no conversions)."""
    batch, channels, height, width = features.shape
    f = features.float().permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    return f.transpose(1, 2) @ f


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2 (Eq. 1)."""
    return 0.5 * (features.float() - target.float()).pow(2).sum()


def normalised_content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content / (N_l M_l) per image: Eq. 1 grows with the number of positions M_l, E_l does not
    (its 1/M_l^2 cancels the M_l^2 in (G - A)^2), so dividing by N_l M_l keeps alpha/beta valid at
    every resolution. This is the content term that impasto optimizes."""
    return content_loss(features, target) / features[0].numel()


def style_layer_loss(gram: torch.Tensor, target_gram: torch.Tensor, channels: int,
                     positions: int) -> torch.Tensor:
    """E_l = 1/(4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2 (Eq. 4)."""
    return (gram - target_gram).pow(2).sum() / (4.0 * channels**2 * positions**2)


def gram_per_position(features: torch.Tensor) -> torch.Tensor:
    """A^l / M_l: the painting's Gram matrix per position, so that the painting and the generated
    image may differ in size (and so a Gram can be summed tile by tile)."""
    return gram_matrix(features) / (features.shape[2] * features.shape[3])


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
               layer_weights: dict[str, float], guide: torch.Tensor | None = None) -> torch.Tensor:
    """L_style = sum_l w_l E_l (Eq. 5), with `target_grams` per position (gram_per_position): the
    target is scaled to the generated image's M_l, which is Eq. 4 exactly when both sizes agree.

    `guide` (B, 1, H, W) in 0..1 gives the guided Gram matrix of Gatys et al. 2017 (Eq. 7):
    F^l is weighted by the guide downsampled to layer l, T^l, and M_l becomes sum (T^l)^2, so a
    region is compared with its own style regardless of its size."""
    total = 0.0
    for layer, weight in layer_weights.items():
        f = features[layer]
        if guide is None:
            positions = f.shape[2] * f.shape[3]
        else:
            t = torch.nn.functional.interpolate(guide.float(), size=f.shape[-2:], mode="area")
            f = f.float() * t
            positions = t.pow(2).sum(dim=(1, 2, 3)).mean().clamp_min(1e-6)
        total = total + weight * style_layer_loss(
            gram_matrix(f), target_grams[layer] * positions, f.shape[1], positions)
    return total


def out_of_range(image: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the pixels from the valid range 0..1: a soft bound, since L-BFGS has
    none and clamping afterwards undoes much of its work."""
    return (image - image.clamp(0, 1)).pow(2).mean()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference between neighbouring pixels (a smoothness prior,
    not in Gatys et al.; Mahendran & Vedaldi 2015, Johnson et al. 2016). Normalised per pixel."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


# --- Johnson, Alahi & Fei-Fei (ECCV 2016), as in their released code -----------------------------

def feature_reconstruction_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """l_feat = 1/(C_j H_j W_j) ||phi_j(y_hat) - phi_j(y)||^2, averaged over the batch."""
    return (features.float() - target.float()).pow(2).mean()


def normalised_gram(features: torch.Tensor) -> torch.Tensor:
    """G^phi_j = psi psi^T / (C_j H_j W_j): Gram matrix of Johnson et al. (Eq. 3 of their paper)."""
    _, channels, height, width = features.shape
    return gram_matrix(features) / (channels * height * width)


def style_reconstruction_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """l_style = ||G(y_hat) - G(y_s)||_F^2 / C_j^2, averaged over the batch: the paper's squared
    Frobenius norm, divided by the number of Gram entries as in Johnson's code (MSE on Grams)."""
    return (normalised_gram(features) - target_gram).pow(2).mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Johnson's l_TV: 1/2 sum of squared neighbour differences on the 0..255 pixel scale, averaged
    over the batch (so the paper's lambda_TV of 1e-6 .. 1e-4 applies as published)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return 0.5 * 255.0**2 * (dx.pow(2).sum() + dy.pow(2).sum()) / image.shape[0]
