"""Several styles in one network (conditional instance norm, Dumoulin et al. 2017): training,
selecting a style by name, mixing, ONNX, and the fixed held-out split of the training photos."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import impasto
from impasto.cli import main
from impasto.feedforward.data import PhotoFolder, held_out
from impasto.feedforward.model_files import list_models, read_metadata, split_style, style_weights
from impasto.feedforward.train import train
from impasto.nets.transformer import ConditionalInstanceNorm, TransformerNet

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(image_size=32, style_size=48, batch_size=2, width=0.25, precision="fp32", device="cpu",
            progress=False, lr=1e-2)


@pytest.fixture(scope="module")
def paintings(tmp_path_factory):
    """Two paintings with nothing in common: Van Gogh's blues, and red-on-white stripes."""
    folder = tmp_path_factory.mktemp("paintings")
    Image.open(ROOT / "examples" / "starry_night.jpg").convert("RGB").resize((64, 48)).save(folder / "night.png")
    stripes = np.zeros((48, 64, 3), np.uint8)
    stripes[:, :, 0] = 230
    stripes[:, ::8, 1:] = 255
    stripes[:, 1::8, 1:] = 255
    Image.fromarray(stripes).save(folder / "stripes.png")
    return [folder / "night.png", folder / "stripes.png"]




@pytest.fixture(scope="module")
def two_styles(tmp_path_factory, paintings, photos):
    out = tmp_path_factory.mktemp("model") / "two.safetensors"
    result = train(paintings, photos, out, iterations=60, **TINY)
    return out, result


@pytest.mark.slow
def test_one_network_learns_both_paintings(two_styles, paintings):
    out, result = two_styles
    meta = read_metadata(out)
    assert meta["norm"] == "conditional" and meta["styles"] == "2"
    assert json.loads(meta["style_names"]) == ["night", "stripes"]
    first = np.mean([h["total"] for h in result.history[:6]])
    last = np.mean([h["total"] for h in result.history[-6:]])
    assert last < first / 3, (first, last)
    # Each style's output matches its own painting better than the other style's output does.
    photo = Image.open(ROOT / "examples" / "tubingen.jpg").convert("RGB").resize((48, 36))
    outputs = {n: impasto.stylize(photo, out, mix=f"{n}=1", precision="fp32") for n in ("night", "stripes")}
    redness = {n: np.asarray(o, float)[..., 0].mean() - np.asarray(o, float)[..., 2].mean()
               for n, o in outputs.items()}
    assert redness["stripes"] > redness["night"] + 40, redness


def test_styles_are_named_and_mixed(two_styles, tmp_path, monkeypatch):
    out, _ = two_styles
    monkeypatch.setenv("IMPASTO_MODELS", str(out.parent))
    assert {("night", "2"), ("stripes", "2")} <= {(m["name"], m["styles"]) for m in list_models()}
    photo = Image.open(ROOT / "examples" / "tubingen.jpg").convert("RGB").resize((40, 30))
    night = np.asarray(impasto.stylize(photo, "night", precision="fp32"), float)
    assert np.array_equal(night, np.asarray(impasto.stylize(photo, mix="night=2", precision="fp32"), float))
    half = np.asarray(impasto.stylize(photo, mix="night=0.5,stripes=0.5", precision="fp32"), float)
    stripes = np.asarray(impasto.stylize(photo, "stripes", precision="fp32"), float)
    assert np.abs(half - night).mean() > 3 and np.abs(half - stripes).mean() > 3
    assert style_weights("x", read_metadata(out), {"night": 1, "stripes": 3}) == [0.25, 0.75]
    with pytest.raises(impasto.ImpastoError, match="holds 2 styles"):
        impasto.stylize(photo, out)
    # One style of a several-style file outside the model folders: MODEL:STYLE.
    elsewhere = tmp_path / "both.safetensors"
    elsewhere.write_bytes(out.read_bytes())
    assert np.array_equal(night, np.asarray(impasto.stylize(photo, f"{elsewhere}:night", precision="fp32"), float))
    with pytest.raises(impasto.ImpastoError, match="no style 'wave'.*night, stripes"):
        impasto.stylize(photo, f"{elsewhere}:wave")
    assert split_style("C:\\models\\x.safetensors") == ("C:\\models\\x.safetensors", None)
    assert split_style("styles:candy") == ("styles", "candy")
    with pytest.raises(impasto.ImpastoError, match="lacks"):
        impasto.stylize(photo, mix="night=1,wave=1")


def test_conditional_norm_mixes_scale_and_shift():
    norm = ConditionalInstanceNorm(3, 2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
        norm.bias.copy_(torch.tensor([[0.0, 1.0, 0.0], [2.0, 1.0, 0.0]]))
    x = torch.randn(1, 3, 5, 5)
    mixed = norm(x, torch.tensor([[0.5, 0.5]]))
    expected = torch.nn.functional.instance_norm(x) * 2.0 + torch.tensor([1.0, 1.0, 0.0])[:, None, None]
    assert torch.allclose(mixed, expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_onnx_export_takes_the_style_weights(two_styles, tmp_path, runtime):
    out, _ = two_styles
    from impasto.feedforward.export import export_onnx

    onnx_path = export_onnx(out, tmp_path / "two.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path))
    assert [i.name for i in session.get_inputs()] == ["image", "style"]
    photo = Image.open(ROOT / "examples" / "tubingen.jpg").convert("RGB").resize((44, 32))
    for mix in ("night=1", "night=0.3,stripes=0.7"):
        a = np.asarray(impasto.stylize(photo, out, mix=mix, precision="fp32"), float)
        b = np.asarray(impasto.stylize(photo, out, mix=mix, runtime=runtime, precision="fp32"), float)
        assert np.abs(a - b).mean() < 1.0
        # The whole export carries the style names, so it mixes by name too.
        c = np.asarray(impasto.stylize(photo, onnx_path, mix=mix, runtime=runtime, precision="fp32"), float)
        assert np.abs(b - c).max() <= 1
    with pytest.raises(impasto.ImpastoError, match="holds the styles night, stripes: mix them"):
        impasto.stylize(photo, onnx_path, runtime=runtime)


def test_onnx_export_of_one_style_builds_it_in(two_styles, tmp_path):
    """`impasto export MODEL:STYLE` (or a shipped style's name) gives a one-style graph: image in,
    stylized image out, as that style runs in torch."""
    out, _ = two_styles
    onnx_path = tmp_path / "stripes.onnx"
    assert main(["export", f"{out}:stripes", "--onnx", str(onnx_path)]) == 0
    import onnxruntime as ort

    assert [i.name for i in ort.InferenceSession(str(onnx_path)).get_inputs()] == ["image"]
    photo = Image.open(ROOT / "examples" / "tubingen.jpg").convert("RGB").resize((44, 32))
    a = np.asarray(impasto.stylize(photo, f"{out}:stripes", precision="fp32"), float)
    for runtime in ("onnx", "openvino"):
        b = np.asarray(impasto.stylize(photo, onnx_path, runtime=runtime, precision="fp32"), float)
        assert np.abs(a - b).mean() < 1.0
        with pytest.raises(impasto.ImpastoError, match="holds one style"):
            impasto.stylize(photo, onnx_path, mix="night=1", runtime=runtime)


def test_cli_mix_and_bad_mix(two_styles, tmp_path):
    out, _ = two_styles
    cli = [sys.executable, "-m", "impasto.cli"]
    photo = ROOT / "examples" / "tubingen.jpg"
    ok = subprocess.run(cli + ["stylize", str(photo), "--model", str(out), "--mix", "night=0.6,stripes=0.4",
                               "--size", "40", "-o", str(tmp_path / "m.png")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert Image.open(tmp_path / "m.png").size == (40, 30)
    bad = subprocess.run(cli + ["stylize", str(photo), "--model", str(out), "--mix", "night=oops",
                                "-o", str(tmp_path / "b.png")], capture_output=True, text=True)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "NAME=WEIGHT" in bad.stderr
    assert not (tmp_path / "b.png").exists()


def test_held_out_split_is_fixed_and_never_trained_on(photos, tmp_path):
    paths = sorted(photos.glob("*.jpg"))
    chosen = held_out(paths, photos, 2)
    assert len(chosen) == 2 and chosen == held_out(list(reversed(paths)), photos, 2)
    folder = PhotoFolder(photos, hold_out=2)
    assert folder.held_out == chosen and not set(folder.paths) & set(chosen)
    assert len(folder) == len(paths) - 2


def test_several_styles_refuse_batch_norm(paintings, photos, tmp_path):
    with pytest.raises(impasto.ImpastoError, match="conditional"):
        train(paintings, photos, tmp_path / "x.safetensors", iterations=1, norm="batch", **TINY)
    assert not (tmp_path / "x.safetensors").exists()
    with pytest.raises(impasto.ImpastoError, match="several"):
        TransformerNet(0.25, "conditional", styles=1)


def test_training_goes_on_from_a_model_file_when_its_checkpoint_is_gone(two_styles, paintings, photos, tmp_path):
    out, result = two_styles
    from impasto.feedforward.train import checkpoint_path, seed_checkpoint

    target = tmp_path / "again.safetensors"
    assert seed_checkpoint(out, checkpoint_path(target), norm="conditional", iterations=70, **TINY) == 60
    resumed = train(paintings, photos, target, iterations=64, resume=True, **TINY)
    assert resumed.iterations == 64 and len(resumed.history) == 4
    assert np.mean([h["total"] for h in resumed.history]) < 2 * np.mean([h["total"] for h in result.history[-6:]])
    with pytest.raises(impasto.ImpastoError, match="other options"):
        seed_checkpoint(out, tmp_path / "x.ckpt", norm="conditional", iterations=70, **{**TINY, "style_weight": 0.5})
