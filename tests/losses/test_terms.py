"""The paper's formulas on small hand-made tensors, and their gradients against the paper's."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from impasto.losses import terms as losses


def test_gram_matrix_is_f_f_transpose():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]]).reshape(1, 3, 1, 2)  # N=3 maps, M=2
    expected = torch.tensor([[5.0, 11.0, -2.0], [11.0, 25.0, -4.0], [-2.0, -4.0, 1.0]])
    assert torch.equal(losses.gram_matrix(f)[0], expected)


def test_gram_matrix_same_for_channels_last():
    f = torch.randn(2, 5, 4, 3)
    assert torch.allclose(losses.gram_matrix(f.contiguous(memory_format=torch.channels_last)),
                          losses.gram_matrix(f), atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 5))
def test_gram_matrix_symmetric_and_matches_einsum(n, h, w):
    f = torch.randn(1, n, h, w, dtype=torch.float64)
    g = losses.gram_matrix(f)[0].double()
    flat = f.reshape(n, h * w).float().double()
    assert torch.allclose(g, torch.einsum("ik,jk->ij", flat, flat), atol=1e-4)
    assert torch.allclose(g, g.T)


def test_content_loss_is_half_squared_error():
    f = torch.tensor([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    p = torch.tensor([0.0, 2.0, 1.0]).reshape(1, 3, 1, 1)
    assert losses.content_loss(f, p).item() == 0.5 * (1 + 0 + 4)
    assert losses.normalised_content_loss(f, p).item() == pytest.approx(0.5 * 5 / 3)


def test_style_layer_loss_formula():
    g = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    a = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    n, m = 2, 5
    # sum (G - A)^2 = 1 + 0 + 1 + 4 = 6
    assert abs(losses.style_layer_loss(g, a, n, m).item() - 6 / (4 * n**2 * m**2)) < 1e-9


def test_style_loss_weights_layers():
    f1, f2 = torch.randn(1, 3, 2, 2), torch.randn(1, 4, 2, 1)
    a1, a2 = torch.randn(1, 3, 3), torch.randn(1, 4, 4)
    e1 = losses.style_layer_loss(losses.gram_matrix(f1), a1, 3, 4)
    e2 = losses.style_layer_loss(losses.gram_matrix(f2), a2, 4, 2)
    # targets per position (A / M), as style_targets stores them
    total = losses.style_loss({"a": f1, "b": f2}, {"a": a1 / 4, "b": a2 / 2}, {"a": 0.25, "b": 0.75})
    assert torch.allclose(total, 0.25 * e1 + 0.75 * e2)


def test_guided_style_loss_sees_only_its_region():
    """Gatys et al. 2017: with a guide, only the guided positions count, normalised by their number,
    so a half-image region matching the target has zero loss whatever the other half holds."""
    torch.manual_seed(0)
    left = torch.rand(1, 4, 8, 4)
    target = losses.gram_per_position(left)
    image = torch.cat([left, 10 * torch.rand(1, 4, 8, 4)], dim=3)
    guide = torch.zeros(1, 1, 8, 8)
    guide[..., :4] = 1
    guided = losses.style_loss({"x": image}, {"x": target}, {"x": 1.0}, guide)
    assert guided.item() < 1e-10
    assert losses.style_loss({"x": image}, {"x": target}, {"x": 1.0}).item() > 1.0
    # an all-ones guide is the plain loss
    ones = torch.ones(1, 1, 8, 8)
    assert torch.allclose(losses.style_loss({"x": image}, {"x": target}, {"x": 1.0}, ones),
                          losses.style_loss({"x": image}, {"x": target}, {"x": 1.0}))


def test_style_layer_gradient_matches_paper():
    """dE_l/dF_ij = 1/(N^2 M^2) ((F^T (G - A))^T)_ij where F > 0 (Gatys et al. Eq. 6)."""
    torch.manual_seed(0)
    n, h, w = 4, 3, 5
    m = h * w
    raw = torch.randn(1, n, h, w, dtype=torch.float64)
    f = torch.relu(raw).requires_grad_(True)   # features after a ReLU
    a = losses.gram_matrix(torch.relu(torch.randn(1, n, h, w))).double()
    loss = losses.style_layer_loss(losses.gram_matrix(f).double(), a, n, m)
    loss.backward()
    flat = f.detach().reshape(n, m).float().double()
    g = flat @ flat.T
    analytic = ((flat.T @ (g - a[0])).T / (n**2 * m**2)).reshape(1, n, h, w)
    positive = f.detach() > 0
    assert torch.allclose(f.grad[positive], analytic[positive], rtol=1e-4, atol=1e-9)


def test_content_gradient_matches_paper():
    """dL_content/dF = F - P where F > 0 (Gatys et al. Eq. 2)."""
    torch.manual_seed(1)
    f = torch.relu(torch.randn(1, 3, 4, 4)).requires_grad_(True)
    p = torch.relu(torch.randn(1, 3, 4, 4))
    losses.content_loss(f, p).backward()
    positive = f.detach() > 0
    assert torch.allclose(f.grad[positive], (f.detach() - p)[positive])


def test_tv_loss_zero_on_flat_and_positive_on_edges():
    assert losses.tv_loss(torch.full((1, 3, 8, 8), 0.3)).item() == 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0
    # every horizontal neighbour differs by 1, no vertical one does
    assert losses.tv_loss(stripes).item() == 1.0


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_written_out_gram_gradient_equals_autograd(layout):
    """losses.gram_loss carries its own backward (Gatys' Eq. 6); it must equal autograd's."""
    torch.manual_seed(0)
    f = torch.relu(torch.randn(2, 5, 4, 3, dtype=torch.float64))
    if layout == "channels_last":
        f = f.contiguous(memory_format=torch.channels_last)
    a = torch.rand(5, 5, dtype=torch.float64)
    fast_f = f.clone().requires_grad_(True)
    plain_f = f.clone().requires_grad_(True)
    fast = losses.style_loss({"x": fast_f}, {"x": a}, {"x": 0.7})
    m = 12
    plain = 0.7 * sum(losses.style_layer_loss(losses.gram_matrix(plain_f[b:b + 1]).double()[0], a * m, 5, m)
                      for b in range(2))
    fast.backward()
    plain.backward()
    assert torch.allclose(fast, plain) and torch.allclose(fast_f.grad, plain_f.grad)
    j_fast = f.clone().requires_grad_(True)
    j_plain = f.clone().requires_grad_(True)
    losses.style_reconstruction_loss(j_fast, a / 60).backward()
    (losses.normalised_gram(j_plain) - a / 60).pow(2).mean().backward()
    assert torch.allclose(j_fast.grad, j_plain.grad)


def test_bf16_gram_difference_is_accurate_relative_to_itself():
    # Near convergence G - A is ~1 % of G: rounding G to bf16 before subtracting would make D's
    # error ~15 %; the bf16 path must keep it at bf16's own rounding of D (< 0.4 %).
    torch.manual_seed(0)
    rows = torch.rand(1, 3000, 64).to(torch.bfloat16)
    exact = rows.double().transpose(1, 2) @ rows.double()
    target = (exact * (1 + 0.01 * torch.randn_like(exact))).float()
    diff = losses.gram_difference(rows, *losses.split_target(target, rows.dtype), 1.0)
    truth = exact - target.double()
    assert diff.dtype == torch.float32
    assert ((diff.double() - truth).norm() / truth.norm()).item() < 4e-3
    fp32 = losses.gram_difference(rows.float(), *losses.split_target(target, torch.float32), 1.0)
    assert ((fp32.double() - truth).norm() / truth.norm()).item() < 1e-4


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_losses_on_the_chain_equal_the_papers_formulas(layout):
    """Objective takes Gatys' content and style terms on VGG's chain (losses.gram_tap, content_tap),
    adding their gradients to the chain's; value and gradient must equal Eq. 1 and Eq. 5 taken on
    the returned feature maps by autograd, with a layer that is both a content and a style layer."""
    from impasto.losses.objective import Objective, Targets
    from impasto.nets.vgg import VGG

    torch.manual_seed(0)
    vgg = VGG(last="relu2_1").double()
    if layout == "channels_last":
        vgg = vgg.to(memory_format=torch.channels_last)
    photo, painting = torch.rand(1, 3, 12, 10, dtype=torch.float64), torch.rand(1, 3, 12, 10, dtype=torch.float64)
    style_layers = {"relu1_1": 0.3, "relu1_2": 0.5, "relu2_1": 0.2}
    with torch.no_grad():
        p = vgg(photo, ["relu1_2"])["relu1_2"]
        a = {l: losses.gram_per_position(f) for l, f in vgg(painting, list(style_layers)).items()}
    objective = Objective(vgg, Targets({"relu1_2": p}, a, style_layers), {"content": 1e-3, "style": 1.0})
    image = torch.rand(1, 3, 12, 10, dtype=torch.float64, requires_grad=True)
    chain = objective(image)
    chain.total.backward()
    plain_image = image.detach().clone().requires_grad_(True)
    f = vgg(plain_image, ["relu1_2", *style_layers])
    content = losses.content_loss(f["relu1_2"], p)
    style = sum(w * losses.style_layer_loss(losses.gram_matrix(f[l])[0], a[l][0] * f[l][0, 0].numel(),
                                            f[l].shape[1], f[l][0, 0].numel()) for l, w in style_layers.items())
    (1e-3 * content / f["relu1_2"][0].numel() + style).backward()
    # the plain formulas take F in fp32 (content_loss, gram_matrix): agreement to fp32's precision
    assert torch.allclose(chain.shown["content"].double(), content.double(), rtol=1e-5)
    assert torch.allclose(chain.terms["style"].double(), style.double(), rtol=1e-5)
    assert torch.allclose(image.grad, plain_image.grad.double(), rtol=1e-4, atol=1e-6 * plain_image.grad.abs().max().item())


def test_tv_loss_gradient_is_autograds():
    """tv_loss writes its gradient out; torch's gradcheck compares it with finite differences."""
    image = torch.rand(2, 3, 7, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(losses.tv_loss, (image,))


def test_out_of_range_gradient_is_autograds():
    """out_of_range writes its gradient out: finite differences agree, and pixels inside 0..1 cost
    nothing (values kept away from the kinks at 0 and 1, where the difference quotient is not it)."""
    values = torch.tensor([-0.7, -0.2, 0.1, 0.5, 0.9, 1.3, 1.8], dtype=torch.float64)
    image = values.repeat(2, 3, 1, 1).requires_grad_(True)
    assert torch.autograd.gradcheck(losses.out_of_range, (image,))
    inside = torch.rand(1, 3, 4, 4)
    assert losses.out_of_range(inside) == 0
