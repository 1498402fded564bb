"""impasto's L-BFGS (the compact form) against torch.optim.LBFGS (the two-loop recursion)."""

import pytest
import torch

from impasto.optimization.lbfgs import LBFGS


def objective(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smooth and not quadratic, so the curvature pairs differ from step to step."""
    r = a @ x - b
    return torch.log1p(r * r).sum() + 0.05 * x.pow(2).sum() + 0.01 * x.pow(4).sum()


def gradient(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    objective(x, a, b).backward()
    return x.grad


@pytest.mark.parametrize("history", [1, 4, 30])
def test_steps_are_the_two_loop_recursions(history):
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(60, 80, generator=generator, dtype=torch.float64) / 5
    b = torch.randn(60, generator=generator, dtype=torch.float64)
    start = torch.randn(80, generator=generator, dtype=torch.float64)
    reference = start.clone().requires_grad_(True)
    torch_lbfgs = torch.optim.LBFGS([reference], lr=1.0, max_iter=1, history_size=history,
                                    tolerance_grad=-1.0, tolerance_change=-1.0)
    mine = start.clone()
    ours = LBFGS(mine, history)

    def closure():
        torch_lbfgs.zero_grad()
        loss = objective(reference, a, b)
        loss.backward()
        return loss

    for _ in range(25):  # more steps than pairs kept: the history wraps around
        torch_lbfgs.step(closure)
        ours.step(gradient(mine, a, b))
        assert torch.allclose(mine, reference.detach(), rtol=1e-9, atol=1e-9)
    assert objective(mine, a, b) < 0.5 * objective(start, a, b)


def test_pairs_without_curvature_are_not_kept():
    # A linear function: y = 0 every step, so L-BFGS keeps descending along -g with its first
    # step's length (torch's behaviour too), and no pair enters the history.
    x = torch.zeros(5, dtype=torch.float64)
    g = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    lbfgs = LBFGS(x, 3, lr=0.1)
    for _ in range(4):
        lbfgs.step(g)
    assert lbfgs.order == []
    assert torch.allclose(x, -g * (0.1 / g.abs().sum() + 3 * 0.1))


def test_a_zero_gradient_leaves_x_in_place():
    # Started at a minimum (say a blank image against a blank target): no step, no division by 0.
    x = torch.ones(6)
    lbfgs = LBFGS(x, 3)
    for _ in range(3):
        lbfgs.step(torch.zeros(6))
    assert torch.equal(x, torch.ones(6))


def test_optimize_pixels_takes_any_layout():
    # The pixels are optimized as one flat vector: an image in channels_last (as a caller's tensor
    # may be) is copied to a contiguous one, and the loss still falls to its minimum.
    from impasto.optimization.pixels import optimize_pixels

    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    start = torch.rand(1, 3, 8, 8).contiguous(memory_format=torch.channels_last)

    class Terms:
        def __init__(self, image):
            self.total = (image - target).pow(2).sum()

        def values(self):
            return {"total": self.total.item()}

    image, history = optimize_pixels(start, Terms, 15)
    assert image.shape == start.shape
    assert history[-1] < 1e-3 * history[0]
