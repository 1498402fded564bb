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
    and the gradient comes back in the same layout as the network's (no conversions). A blocked
    matrix product need not round G_ij and G_ji alike; the mean of G and G^T is exactly symmetric."""
    batch, channels, height, width = features.shape
    f = features.float().permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    g = f.transpose(1, 2) @ f
    return 0.5 * (g + g.transpose(1, 2))


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
    return (gram - target_gram).pow(2).sum() * eq4_scale(channels, positions)


def eq4_scale(channels: int, positions: float) -> float:
    """1 / (4 N_l^2 M_l^2), Eq. 4's normaliser."""
    return 1.0 / (4.0 * channels**2 * positions**2)


class _GramTap(torch.autograd.Function):
    """features -> (features, s * sum_b sum_ij (c G_b - A)_ij^2) for G_b = F_b^T F_b, with the
    gradient written out:
        d/dF_b = 2 s c F_b (D_b + D_b^T),  D_b = c G_b - A
    which for a symmetric target and Gatys' E_l (c = 1, s = 1/(4 N^2 M^2)) is their Eq. 6. D must be
    accurate relative to itself, not to G (near convergence G - A is far smaller than G): see
    gram_difference. The gradient is one matrix product in the features' own dtype and layout,
    where autograd would take two fp32 products, a transpose and a sum (a fifth of an iteration).

    The features pass through unchanged: placed in the loss network's chain (VGG's `taps`), the
    gradient arriving from the layers above is added in that same product (baddbmm), where a loss
    on a branch wrote its gradient out for autograd to sum with the chain's (25 MB each way at
    relu1_1 of a 512 px image). It is added in place: on VGG's plain chain that gradient is the
    next layer's own fresh output (a convolution's or a pooling's backward), which nothing else
    holds, and a new buffer the size of relu1_1 would cost a copy and page faults every iteration. Used off the chain, the first output is simply left unused."""

    @staticmethod
    def forward(ctx, features, high, low, gram_scale, loss_scale):
        ctx.set_materialize_grads(False)
        diff = gram_difference(_rows(features), high, low, gram_scale)
        ctx.save_for_backward(features, diff)
        ctx.scales = (gram_scale, loss_scale)
        return features.view_as(features), loss_scale * torch.linalg.vector_norm(diff).square()

    @staticmethod
    def backward(ctx, grad_chain, grad):
        if grad is None:
            return grad_chain, None, None, None, None
        features, diff = ctx.saved_tensors
        gram_scale, loss_scale = ctx.scales
        batch, channels, height, width = features.shape
        f = _rows(features)
        step = torch.add(diff, diff.transpose(1, 2)).mul_(2 * loss_scale * gram_scale * grad).to(f.dtype)
        if grad_chain is None:
            gf = f @ step
        else:
            gf = _rows(_channels_last(grad_chain.to(f.dtype))).baddbmm_(f, step)
        return gf.reshape(batch, height, width, channels).permute(0, 3, 1, 2), None, None, None, None


class _ContentTap(torch.autograd.Function):
    """features -> (features, L_content of Eq. 1), whose gradient F - P joins the chain's in one
    addition, in place (see _GramTap)."""

    @staticmethod
    def forward(ctx, features, target):
        ctx.set_materialize_grads(False)
        diff = torch.sub(features, target.float())  # in fp32: bf16 features are promoted as read
        ctx.save_for_backward(diff.to(features.dtype))
        return features.view_as(features), 0.5 * torch.linalg.vector_norm(diff).square()

    @staticmethod
    def backward(ctx, grad_chain, grad):
        if grad is None:
            return grad_chain, None
        diff, = ctx.saved_tensors
        if grad_chain is None:
            return diff * grad, None
        return _channels_last(grad_chain).addcmul_(_channels_last(diff), grad), None


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def split_target(target: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A as (A_hi, A_lo) for features of `dtype`: A_hi in bf16 for bf16 features and A_lo = A - A_hi
    in fp32, else (A in fp32 or wider, None). A fixed target is split once (objective.Objective)."""
    if dtype == torch.bfloat16:
        high = target.to(torch.bfloat16)
        return high, target.float() - high.float()
    return target.to(torch.promote_types(dtype, torch.float32)), None


def gram_difference(f: torch.Tensor, high: torch.Tensor, low: torch.Tensor | None,
                    gram_scale: float) -> torch.Tensor:
    """D = c F^T F - A in fp32 (or wider), for rows f (B, M, N) and A split by split_target. bf16
    rows: baddbmm accumulates c F^T F - A_hi in fp32 and rounds once, so D carries bf16's relative
    error of D itself, and A_lo is subtracted in fp32 afterwards (bf16 products, far cheaper than
    fp32 copies; rounding the product G before subtracting would turn into large errors of D)."""
    if f.dtype == torch.bfloat16:
        diff = torch.baddbmm(high, f.transpose(1, 2), f, beta=-1.0, alpha=gram_scale)
        return torch.sub(diff, low)  # in fp32
    exact = f.to(high.dtype)
    return gram_scale * (exact.transpose(1, 2) @ exact) - high


def _rows(features: torch.Tensor) -> torch.Tensor:
    """(B, N, H, W) -> (B, M, N): F^T, one row per position (a free view for channels_last)."""
    batch, channels, height, width = features.shape
    return features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)


def gram_tap(features: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor | None], gram_scale: float,
             loss_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, loss_scale * sum over the batch of ||gram_scale * G - A||^2), for a target split
    by split_target; the features to carry on the loss network's chain (see _GramTap)."""
    high, low = target
    return _GramTap.apply(features, high, low, float(gram_scale), float(loss_scale))


def gram_loss(features: torch.Tensor, target: torch.Tensor, gram_scale: float, loss_scale: float) -> torch.Tensor:
    """loss_scale * sum over the batch of ||gram_scale * G - target||^2 (see _GramTap)."""
    return gram_tap(features, split_target(target, features.dtype), gram_scale, loss_scale)[1]


def content_tap(features: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, L_content of Eq. 1): the features to carry on the loss network's chain."""
    return _ContentTap.apply(features, target)


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
        if guide is None:  # E_l (Eq. 4) with the gradient of Eq. 6
            channels, positions = f.shape[1], f.shape[2] * f.shape[3]
            total = total + weight * gram_loss(f, target_grams[layer] * positions, 1.0,
                                               eq4_scale(channels, positions))
            continue
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
    return _OutOfRange.apply(image)


class _OutOfRange(torch.autograd.Function):
    """mean((x - clamp(x, 0, 1))^2) with its gradient 2 (x - clamp(x, 0, 1)) / n written out: one
    pass where autograd's clamp, power and mean took eight (masks, selects, a division)."""

    @staticmethod
    def forward(ctx, image):
        excess = image - image.clamp(0, 1)
        ctx.save_for_backward(excess)
        return torch.linalg.vector_norm(excess).square() / excess.numel()

    @staticmethod
    def backward(ctx, grad):
        excess, = ctx.saved_tensors
        return excess * (2 * grad / excess.numel())


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference between neighbouring pixels (a smoothness prior,
    not in Gatys et al.; Mahendran & Vedaldi 2015, Johnson et al. 2016). Normalised per pixel."""
    return _TotalVariation.apply(image)


class _TotalVariation(torch.autograd.Function):
    """mean(dx^2) + mean(dy^2) for dx, dy the differences of horizontal and vertical neighbours,
    with the gradient written out: 2 dx / |dx| enters each difference's right pixel and leaves its
    left one (likewise for dy), four slice additions where autograd takes some twenty passes over
    the image in an iteration that is otherwise the loss network's."""

    @staticmethod
    def forward(ctx, image):
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        ctx.save_for_backward(dx, dy)
        return torch.linalg.vector_norm(dx).square() / dx.numel() + torch.linalg.vector_norm(dy).square() / dy.numel()

    @staticmethod
    def backward(ctx, grad):
        dx, dy = ctx.saved_tensors
        gx, gy = dx * (2 * grad / dx.numel()), dy * (2 * grad / dy.numel())
        out = torch.zeros(dx.shape[:-1] + (dx.shape[-1] + 1,), dtype=dx.dtype, device=dx.device)
        out[..., :, 1:] += gx
        out[..., :, :-1] -= gx
        out[..., 1:, :] += gy
        out[..., :-1, :] -= gy
        return out


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, reliable: torch.Tensor) -> torch.Tensor:
    """Ruder, Dosovitskiy & Brox (2016), Eq. 7: L_temporal = 1/D sum_k c_k (x_k - omega_k)^2, the
    distance to the previous frame's result warped into this one (omega), over the pixels whose
    flow is reliable (c = 1) among the D values of the image."""
    return (reliable * (image - warped).pow(2)).sum() / image.numel()


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
    batch, channels, height, width = features.shape
    return gram_loss(features, target_gram, 1.0 / (channels * height * width), 1.0 / (batch * channels**2))


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Johnson's l_TV: 1/2 sum of squared neighbour differences on the 0..255 pixel scale, averaged
    over the batch (so the paper's lambda_TV of 1e-6 .. 1e-4 applies as published)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return 0.5 * 255.0**2 * (dx.pow(2).sum() + dy.pow(2).sum()) / image.shape[0]
