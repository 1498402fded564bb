"""New paintings learned on a trained several-style network (Dumoulin et al. §4.3): only the new
styles' norm parameters change; the file holds them and the base's identity; it loads, stylizes,
mixes with the base's styles and exports; a changed base is refused; a killed run resumes exactly."""

import hashlib
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import impasto
from impasto.cli import main
from impasto.core.errors import ImpastoError
from impasto.feedforward.export import export_onnx
from impasto.feedforward.model_files import load_model
from impasto.feedforward.train import train
from impasto.nets.transformer import ConditionalInstanceNorm

TINY = dict(image_size=32, style_size=48, batch_size=2, precision="fp32", device="cpu", progress=False)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def base(tmp_path_factory, photos):
    folder = tmp_path_factory.mktemp("base")
    paintings = []
    for name, colour in (("night", (20, 40, 160)), ("sun", (230, 180, 30))):
        image = np.zeros((48, 48, 3), np.uint8)
        image[::6] = colour
        Image.fromarray(image).save(folder / f"{name}.png")
        paintings.append(folder / f"{name}.png")
    path = folder / "two.safetensors"
    train(paintings, photos, path, iterations=4, width=0.25, **TINY)
    return path


@pytest.fixture(scope="module")
def new_painting(tmp_path_factory):
    path = tmp_path_factory.mktemp("new") / "stripes.png"
    image = np.zeros((48, 48, 3), np.uint8)
    image[:, ::4] = (200, 30, 30)
    Image.fromarray(image).save(path)
    return path


@pytest.fixture(scope="module")
def learned(tmp_path_factory, base, new_painting, photos):
    out = tmp_path_factory.mktemp("mine") / "mine.safetensors"
    before = sha(base)
    result = train(new_painting, photos, out, base=str(base), iterations=6, lr=0.05, checkpoint_every=2, **TINY)
    assert sha(base) == before  # the base file is read, never written
    return out, result


def test_only_the_new_styles_norm_parameters_are_learned(base, learned):
    out, result = learned
    history = [h["style"] for h in result.history]
    assert history[-1] < history[0]  # it learned something
    stored = load_file(out)
    assert all(t.shape[0] == 1 for t in stored.values())  # one new row per table, nothing else
    assert out.stat().st_size < 20_000
    before, _ = load_model(base)
    after, meta = load_model(out)
    assert after.styles == 3 and impasto.feedforward.model_files.style_names(meta) == ["night", "sun", "mine"]
    a, b = before.state_dict(), after.state_dict()
    norms = {f"{n}.{p}" for n, m in after.named_modules() if isinstance(m, ConditionalInstanceNorm)
             for p in ("weight", "bias")}
    for key, value in a.items():
        if key in norms:  # the base's own rows exactly as they were, the new row learned
            assert torch.equal(b[key][:2], value)
            dead = key.startswith("residuals.") and key.endswith(".block.1.2.bias")  # see below
            assert torch.equal(b[key][2], value.mean(0)) == dead
        else:  # every convolution bit-identical
            assert torch.equal(b[key], value), key
    for i in range(5):  # a residual block's last shift has no effect: it is not walked on noise
        assert not stored[f"residuals.{i}.block.1.2.bias"].any()


def test_a_drifted_residual_shift_is_dropped_at_load(tmp_path, learned, content_path):
    # Files made before it was frozen hold it drifted (to 11 in 900 steps), which cost bf16 passes
    # their precision; it has no effect in exact arithmetic, so loading zeroes it.
    from safetensors import safe_open
    from safetensors.torch import save_file

    out, _ = learned
    with safe_open(str(out), "pt") as f:
        metadata = f.metadata()
    rows = load_file(out)
    for i in range(5):
        rows[f"residuals.{i}.block.1.2.bias"] = torch.full_like(rows[f"residuals.{i}.block.1.2.bias"], 11.0)
    drifted = tmp_path / "mine.safetensors"
    save_file(rows, drifted, metadata)
    net, _ = load_model(drifted)
    assert all(not block.dead_shift.any() for block in net.residuals)
    photo = Image.open(content_path)
    assert np.array_equal(np.asarray(impasto.stylize(photo, str(drifted), precision="fp32")),
                          np.asarray(impasto.stylize(photo, str(out), precision="fp32")))


def test_the_new_style_stylizes_mixes_and_exports(tmp_path, learned, content_path, monkeypatch):
    out, _ = learned
    monkeypatch.chdir(out.parent)  # --model mine: a model named by its file in the working folder
    photo = Image.open(content_path)
    picture = impasto.stylize(photo, "mine", precision="fp32")
    assert picture.size == photo.size
    mixed = impasto.stylize(photo, mix="mine=0.5,night=0.5", precision="fp32")
    assert mixed.size == photo.size and not np.array_equal(np.asarray(mixed), np.asarray(picture))
    assert main(["stylize", "--model", "mine", str(content_path), "-o", str(tmp_path / "o.png"),
                 "--precision", "fp32"]) == 0
    onnx_path = export_onnx("mine", tmp_path / "mine.onnx")
    from impasto.core.images import to_array
    from impasto.feedforward.runners import OnnxRunner

    array = to_array(photo.convert("RGB"))
    exported = OnnxRunner(onnx_path)(array)
    assert np.abs(exported - to_array(picture)).max() < 0.02


def test_a_new_style_file_is_listed_and_keeps_working_renamed(tmp_path, learned, content_path, monkeypatch, capsys):
    out, _ = learned
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(out, models / "mine.safetensors")
    monkeypatch.setenv("IMPASTO_MODELS", str(models))
    assert main(["models"]) == 0
    assert "mine" in capsys.readouterr().out.split()
    renamed = tmp_path / "renamed.safetensors"  # its one new style is still the one it means
    shutil.copy(out, renamed)
    photo = Image.open(content_path)
    assert np.array_equal(np.asarray(impasto.stylize(photo, str(renamed), precision="fp32")),
                          np.asarray(impasto.stylize(photo, str(out), precision="fp32")))


def test_a_changed_or_missing_base_is_refused(tmp_path, base, learned, new_painting, photos, capsys):
    out, _ = learned
    copy = tmp_path / "mine.safetensors"
    copy.write_bytes(out.read_bytes())
    saved = base.read_bytes()
    try:
        net, meta = load_model(base)
        with torch.no_grad():
            next(net.parameters()).add_(1.0)
        from impasto.feedforward.model_files import save_model

        save_model(net, base, {k: v for k, v in meta.items() if k not in ("format", "width", "norm", "upsample",
                                                                         "styles")})
        with pytest.raises(ImpastoError, match="base network"):
            load_model(copy)
        code = main(["stylize", "--model", str(copy), str(next(photos.iterdir())), "-o", str(tmp_path / "o.png")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and "base network" in err[0]
        assert not (tmp_path / "o.png").exists()
    finally:
        base.write_bytes(saved)
    base.rename(base.with_suffix(".gone"))
    try:
        with pytest.raises(ImpastoError, match="not here"):
            load_model(copy)
    finally:
        base.with_suffix(".gone").rename(base)


@pytest.mark.slow
def test_a_killed_run_resumes_exactly(tmp_path, base, new_painting, photos, train_killed):
    args = ["train", "--style", str(new_painting), "--from", str(base), "--data", str(photos), "--image-size", "32",
            "--style-size", "48", "--batch-size", "2", "--lr", "0.05", "--precision", "fp32", "--device", "cpu",
            "--checkpoint-every", "2", "--quiet"]
    killed = tmp_path / "killed.safetensors"
    done = train_killed(args, killed)
    target = done + 3
    torch.set_num_threads(1)
    try:
        assert main([*args, "--iterations", str(target), "-o", str(killed), "--resume"]) == 0
        reference = tmp_path / "reference.safetensors"
        assert main([*args, "--iterations", str(target), "-o", str(reference)]) == 0
    finally:
        torch.set_num_threads(os.cpu_count() or 1)
    a, b = load_file(killed), load_file(reference)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resuming_on_another_base_is_refused(tmp_path, base, new_painting, photos, capsys):
    out = tmp_path / "x.safetensors"
    train(new_painting, photos, out, base=str(base), iterations=2, checkpoint_every=1, **TINY)
    other = tmp_path / "other.safetensors"
    train([base.parent / "night.png", base.parent / "sun.png"], photos, other, iterations=2, width=0.25, **TINY)
    with pytest.raises(ImpastoError, match="another base network"):
        train(new_painting, photos, out, base=str(other), iterations=4, resume=True, **TINY)


def test_each_painting_is_learned_with_its_own_style_weight(tmp_path, base, photos):
    """A faint painting pulls a photo less than a bold one, so without --style-weight it is learned
    with a larger style weight (new_styles.style_weight: inversely as the pull); a weight that is
    given is kept."""
    import json

    from impasto.feedforward.model_files import read_metadata

    weights = {}
    for name, colour in (("bold", (250, 10, 10)), ("faint", (140, 120, 120))):
        image = np.full((48, 48, 3), 128, np.uint8)
        image[:, ::4] = colour
        Image.fromarray(image).save(tmp_path / f"{name}.png")
        out = tmp_path / f"{name}.safetensors"
        train(tmp_path / f"{name}.png", photos, out, base=str(base), iterations=1, **TINY)
        weights[name] = json.loads(read_metadata(out)["train_args"])["style_weight"]
    assert weights["faint"] > 1.2 * weights["bold"] > 0
    given = tmp_path / "given.safetensors"
    train(tmp_path / "faint.png", photos, given, base=str(base), iterations=1, style_weight=0.5, **TINY)
    assert json.loads(read_metadata(given)["train_args"])["style_weight"] == 0.5
