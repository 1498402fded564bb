"""The pixel optimizer: gradient descent on an image's pixels, one loss evaluation per iteration.
Used by optimize, tiled runs, reconstruct and evaluate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..core.errors import ImpastoError
from ..losses.objective import Losses, Objective
from .lbfgs import LBFGS

OnIteration = Callable[[int, torch.Tensor, dict[str, float]], None]
FIRST_STEP = 3e-3  # RMS pixel change (0..1 range) of L-BFGS's first steps, before it has curvature


@torch.enable_grad()  # a caller that turned gradients off (torch.set_grad_enabled(False)) still gets them here
def optimize_pixels(image: torch.Tensor, loss_fn: Callable[[torch.Tensor], Losses], iterations: int,
                    optimizer: str = "lbfgs", learning_rate: float = 0.02,
                    on_iteration: OnIteration | None = None, loss_scale: float = 1.0,
                    keep_best: bool = False, first_step: float | None = None) -> tuple[torch.Tensor, list[float]]:
    """Minimise loss_fn(image).total over the pixels; returns (image clamped to 0..1, total per
    iteration). `on_iteration(i, image, losses)` runs after every step; it may raise (Cancelled).
    The loss is minimised as loss_scale x total / initial total, or, with `first_step`, scaled so
    that its initial gradient has that RMS (see the closure). With `keep_best`, the best image
    evaluated is returned where the last step (never evaluated: one evaluation per iteration)
    overshot."""
    image = image.detach().clone(memory_format=torch.contiguous_format).float().requires_grad_(True)
    if optimizer == "lbfgs":
        # One evaluation per iteration, as with Johnson's neural-style; the iterations asked for
        # run, never stopping early.
        lbfgs = LBFGS(image.detach())

        def step() -> None:
            closure()
            lbfgs.step(image.grad)
    else:
        adam = torch.optim.Adam([image], lr=learning_rate)

        def step() -> None:
            adam.step(closure)
    history: list[float] = []
    scale: list[float] = []
    latest: dict[str, float] = {}
    best: list = []  # [total, image] of the best evaluated image, with keep_best

    def closure() -> torch.Tensor:
        image.grad = None
        terms = loss_fn(image)
        total = terms.total
        # Minimise a scaled total: the same minimiser, but a sane first step. L-BFGS steps
        # by the raw gradient until it has a curvature pair it trusts (y.s > 0; a first step from
        # the photo often gives none), so the gradient's size is the step's size: on the raw loss
        # that moved pixels by thousands. Divided by the initial total, steps from the photo were
        # ~1e-4 and 512 px runs spent their first 40 iterations barely moving; scaled to an RMS of
        # `first_step`, they take ~15 (from noise, either scaling does as well).
        if scale:
            (total * scale[0]).backward()
        else:
            total.backward()
            rms = image.grad.pow(2).mean().sqrt().item()
            scale.append(first_step / max(rms, 1e-30) if first_step else loss_scale / max(total.item(), 1e-12))
            image.grad.mul_(scale[0])
        latest.clear()
        latest.update(terms.values())
        history.append(latest["total"])
        if keep_best and (not best or latest["total"] < best[0]):
            best[:] = [latest["total"], image.detach().clone()]
        return total.detach() * scale[0]

    for i in range(1, iterations + 1):
        step()
        if optimizer == "adam":
            with torch.no_grad():
                image.clamp_(0, 1)  # projected gradient: stay a valid image
        if not torch.isfinite(image.detach().sum()):  # a sum is non-finite if any pixel is
            raise ImpastoError("optimization diverged (non-finite pixels); lower the weights or "
                               "the learning rate")
        if on_iteration is not None:
            on_iteration(i, image.detach(), dict(latest))
    if best:
        with torch.no_grad():
            if loss_fn(image).total.item() > best[0]:
                return best[1].clamp(0, 1), history
    return image.detach().clamp(0, 1), history


@dataclass
class Stage:
    """The outcome of one optimization run at one size: the image and its losses before and after."""

    image: torch.Tensor
    initial: dict[str, float]
    final: dict[str, float]
    history: list[float]


def optimize_stage(objective: Objective, image: torch.Tensor, iterations: int, optimizer: str = "lbfgs",
                   learning_rate: float = 0.02, range_weight: float = 0.0,
                   on_iteration: OnIteration | None = None, loss_scale: float = 1.0,
                   keep_best: bool = False, first_step: float | None = FIRST_STEP) -> Stage:
    """Optimize `image` against `objective` and measure the losses at the start and the end."""
    with torch.no_grad():
        initial = objective(image)
    # Unbounded L-BFGS pushes pixels past 0..1 and clamping afterwards undid much of its work (at
    # 256 px it doubled the final loss): a quadratic penalty scaled to the objective keeps them in.
    objective = objective.with_weights(range=range_weight * initial.total.item())
    final_image, history = optimize_pixels(image, objective, iterations, optimizer, learning_rate,
                                           on_iteration, loss_scale, keep_best, first_step)
    with torch.no_grad():
        final = objective(final_image)  # the losses of the image the user gets (clamped)
    return Stage(final_image, initial.values(), final.values(), history)
