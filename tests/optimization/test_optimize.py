"""Gatys et al. optimization at tiny sizes: the loss falls, options do what they say."""

import pytest

from impasto import OptimizeConfig, optimize, run_optimization
from impasto.core.errors import ImpastoError

TINY = dict(size=64, progress=False)


def test_lbfgs_from_noise_cuts_loss_tenfold(content_path, style_path):
    result = run_optimization(content_path, style_path, iterations=40, **TINY)
    assert result.total_loss < result.initial_total_loss / 10
    assert result.style_loss < result.initial_style_loss / 10
    assert max(result.width, result.height) == 64
    assert (result.width, result.height) == result.image.size


def test_optimization_runs_where_the_caller_turned_gradients_off(content_path, style_path):
    import torch

    with torch.no_grad():  # as a measuring script around it might (bench/arbitrary_metric.py does)
        result = run_optimization(content_path, style_path, iterations=20, **TINY)
    assert result.total_loss < result.initial_total_loss / 2


def test_adam_reduces_loss(content_path, style_path):
    result = run_optimization(content_path, style_path, iterations=40, optimizer="adam",
                              learning_rate=0.05, **TINY)
    assert result.total_loss < result.initial_total_loss / 5


def test_content_init_starts_at_zero_content_loss(content_path, style_path):
    result = run_optimization(content_path, style_path, iterations=5, init="content", **TINY)
    assert result.initial_content_loss == 0
    assert result.total_loss < result.initial_total_loss


def test_seed_makes_runs_repeatable(content_path, style_path):
    # the seed draws the noise start (the default start is the photo)
    a = optimize(content_path, style_path, iterations=5, seed=3, init="noise", **TINY)
    b = optimize(content_path, style_path, iterations=5, seed=3, init="noise", **TINY)
    c = optimize(content_path, style_path, iterations=5, seed=4, init="noise", **TINY)
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


def test_style_blend_weights_styles(content_path, style_path):
    """Blend 1,0 of (style, content-as-style) is exactly the single-style run."""
    single = optimize(content_path, style_path, iterations=5, precision="fp32", **TINY)
    blended = optimize(content_path, [style_path, content_path], iterations=5, precision="fp32",
                       style_blend=(1.0, 0.0), **TINY)
    other = optimize(content_path, [style_path, content_path], iterations=5, precision="fp32", **TINY)
    assert single.tobytes() == blended.tobytes() != other.tobytes()


@pytest.mark.slow
def test_bf16_reaches_fp32_loss(content_path, style_path):
    fp32 = run_optimization(content_path, style_path, iterations=60, precision="fp32", **TINY)
    bf16 = run_optimization(content_path, style_path, iterations=60, precision="bf16", **TINY)
    assert abs(bf16.total_loss - fp32.total_loss) / fp32.total_loss < 0.05


def test_save_every_writes_intermediates(tmp_path, content_path, style_path):
    out = tmp_path / "out.png"
    run_optimization(content_path, style_path, iterations=6, save_every=2, output=out, **TINY)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["out-iter0002.png", "out-iter0004.png", "out.png"]


def test_layer_options_and_avg_pooling(content_path, style_path):
    result = run_optimization(content_path, style_path, iterations=10, pooling="avg",
                              content_layers=("relu3_2",), style_layers=("relu1_1", "relu2_1"),
                              style_layer_weights=(3.0, 1.0), style_scale=0.5, tv_weight=10.0, **TINY)
    assert result.total_loss < result.initial_total_loss


@pytest.mark.parametrize("options, message", [
    (dict(style_weight=-1.0), "style-weight"),
    (dict(content_layers=("relu9_9",)), "unknown layer"),
    (dict(style_layer_weights=(1.0, 2.0)), "has 2 values for 5"),
    (dict(style_blend=(1.0, 2.0)), "has 2 values for 1"),
    (dict(optimizer="sgd"), "unknown optimizer"),
])
def test_bad_options(content_path, style_path, options, message):
    with pytest.raises(ImpastoError, match=message):
        run_optimization(content_path, style_path, OptimizeConfig(**TINY), iterations=1, **options)


def test_save_every_skips_the_last_iteration_of_the_final_scale(tmp_path, content_path, style_path):
    """Two scales, 1 then 3 iterations: intermediates of the final scale only, not its last one."""
    out = tmp_path / "out.png"
    run_optimization(content_path, style_path, iterations=3, scales=2, save_every=1, output=out, **TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-iter0001.png", "out-iter0002.png", "out.png"]
