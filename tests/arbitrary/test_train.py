"""Training the arbitrary-style network in chunks: a resumed run is the run it continues."""

import pytest
import torch
from PIL import Image

from impasto.arbitrary.network import load_arbitrary
from impasto.arbitrary.train import train_arbitrary, written_weights
from impasto.core.errors import ImpastoError

TINY = dict(batch_size=2, image_size=32, style_sizes=(32, 48), hold_out=1, hold_out_paintings=1,
            checkpoint_every=1, precision="fp32", device="cpu")


@pytest.fixture(scope="module")
def painting_folder(tmp_path_factory, paintings):
    folder = tmp_path_factory.mktemp("collection")
    for i, source in enumerate(paintings * 2):
        image = Image.open(source).rotate(90 * i)
        image.save(folder / f"painting{i}.png")
    return folder


def test_resumed_training_continues_exactly(painting_folder, photos, tiny_base, tmp_path, one_thread):
    straight = train_arbitrary(painting_folder, photos, tmp_path / "straight.safetensors", base=str(tiny_base),
                               iterations=4, **TINY)
    train_arbitrary(painting_folder, photos, tmp_path / "chunked.safetensors", base=str(tiny_base),
                    iterations=2, **TINY)
    chunked = train_arbitrary(painting_folder, photos, tmp_path / "chunked.safetensors", base=str(tiny_base),
                              iterations=4, resume=True, **TINY)
    assert [h["total"] for h in chunked.history] == [h["total"] for h in straight.history]
    a, _ = load_arbitrary(tmp_path / "straight.safetensors")
    b, meta = load_arbitrary(tmp_path / "chunked.safetensors")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert meta["iterations"] == "4"


def test_the_base_convolutions_start_the_network_and_a_stale_checkpoint_is_refused(painting_folder, photos,
                                                                                  tiny_base, tmp_path):
    from impasto.feedforward.model_files import load_model

    out = tmp_path / "net.safetensors"
    train_arbitrary(painting_folder, photos, out, base=str(tiny_base), iterations=1, **TINY)
    with pytest.raises(ImpastoError, match="checkpoint of an earlier run"):
        train_arbitrary(painting_folder, photos, out, base=str(tiny_base), iterations=1, **TINY)
    with pytest.raises(ImpastoError, match="other training options"):
        train_arbitrary(painting_folder, photos, out, base=str(tiny_base), iterations=2, resume=True,
                        **{**TINY, "style_weight": 9.0})
    base, _ = load_model(tiny_base)
    frozen = train_arbitrary(painting_folder, photos, tmp_path / "frozen.safetensors", base=str(tiny_base),
                             iterations=1, conv_lr=0, **TINY)
    net, _ = load_arbitrary(frozen.output)
    convs = {k: v for k, v in base.state_dict().items() if v.ndim == 4}
    assert all(torch.equal(net.transformer.state_dict()[k], v) for k, v in convs.items())


def test_the_network_written_is_the_moving_average_of_the_weights(painting_folder, photos, tiny_base, tmp_path):
    out = tmp_path / "net.safetensors"
    train_arbitrary(painting_folder, photos, out, base=str(tiny_base), iterations=3, ema=0.5, **TINY)
    state = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    written, _ = load_arbitrary(out)
    averaged = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    last = state["model"]
    tables = [k for k, v in last.items() if v.ndim == 2 and k.startswith("transformer")]
    assert tables and any(not torch.equal(last[k], averaged[k]) for k in tables)
    assert all(torch.allclose(written.state_dict()[k], averaged[k]) for k in tables)
    assert all(torch.equal(written_weights(state)[k], averaged[k]) for k in averaged)  # what --snapshot writes


def test_a_painting_that_pulls_harder_weighs_more_with_a_pull_exponent(painting_folder, photos, tiny_base,
                                                                          tmp_path):
    from impasto.arbitrary.train import _pull_weights
    from impasto.core.config import ArbitraryTrainConfig
    from impasto.losses.terms import normalised_gram

    torch.manual_seed(0)
    photo = torch.rand(3, 4, 8, 8)
    near, far = photo[1] * 0.9, photo[2] * 3.0  # the second painting is further from its photo
    grams = {"relu1_2": normalised_gram(torch.stack([photo[0], near, far]))}
    config = ArbitraryTrainConfig(pull_exponent=0.5, pull_reference=1.0)
    weights = _pull_weights({"relu1_2": photo}, grams, [True, False, False], config)
    assert weights[0] == 1.0  # its own photo as the painting: the plain weight
    assert 0 < weights[1] < weights[2]
    d = float(((normalised_gram(photo[2:3]) - grams["relu1_2"][2:3]) ** 2).sum()) / 16
    assert weights[2] == pytest.approx(d ** 0.5, rel=1e-4)
    trained = train_arbitrary(painting_folder, photos, tmp_path / "pull.safetensors", base=str(tiny_base),
                              iterations=2, pull_exponent=0.5, **TINY)
    assert all(torch.isfinite(torch.tensor(h["style"])) for h in trained.history)


def test_a_checkpoint_made_before_an_option_existed_resumes(painting_folder, photos, tiny_base, tmp_path):
    """An option added since counts as its default (what the older run used); another value is refused."""
    out = tmp_path / "net.safetensors"
    train_arbitrary(painting_folder, photos, out, base=str(tiny_base), iterations=1, **TINY)
    ckpt = out.with_suffix(".ckpt")
    state = torch.load(ckpt, weights_only=True)
    del state["config"]["pull_exponent"], state["config"]["pull_reference"]
    torch.save(state, ckpt)
    with pytest.raises(ImpastoError, match="other training options"):
        train_arbitrary(painting_folder, photos, out, base=str(tiny_base), iterations=2, resume=True,
                        **{**TINY, "pull_exponent": 0.5})
    resumed = train_arbitrary(painting_folder, photos, out, base=str(tiny_base), iterations=2, resume=True, **TINY)
    assert resumed.iterations == 2 and len(resumed.history) == 2
