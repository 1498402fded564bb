"""Robustness, round two: the cases an adversary found beyond the web app and the same-path rule
(those are in tests/serve/ and test_no_command_destroys_its_inputs.py). Each gets one line and a
non-zero exit, writes nothing, and never prints a number JSON cannot carry."""

import json
import math

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

import impasto
from impasto.cli import main
from impasto.core.errors import ImpastoError, OutputError
from impasto.feedforward.model_files import save_model
from impasto.nets.transformer import TransformerNet

FP32 = ["--precision", "fp32", "--device", "cpu"]
TRAIN = ["--iterations", "4", "--image-size", "32", "--batch-size", "2", "--width", "0.25",
         "--checkpoint-every", "2", "--quiet", *FP32]


def one_line(capsys, code, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and err[0].startswith("impasto: error:"), err
    assert "Traceback" not in err[0] and "internal error" not in err[0]
    for word in words:
        assert word in err[0], err[0]
    return err[0]


@pytest.fixture()
def ckpt(tmp_path, style_path, photos):
    """A finished tiny run's checkpoint, to be tampered with."""
    assert main(["train", "--style", str(style_path), "--data", str(photos), "-o", str(tmp_path / "m.safetensors"),
                 *TRAIN]) == 0
    (tmp_path / "m.safetensors").unlink()
    return tmp_path / "m.ckpt"


@pytest.mark.parametrize("damage", ["history of numbers", "history without total", "nan weights"])
def test_a_tampered_checkpoint_is_one_line_and_writes_no_model(tmp_path, capsys, style_path, photos, ckpt, damage):
    state = torch.load(ckpt, weights_only=True)
    if damage == "history of numbers":
        state["history"] = [1, 2, 3]
    elif damage == "history without total":
        state["history"] = [{"content": 1.0} for _ in state["history"]]
    else:
        state["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                          for k, v in state["model"].items()}
    torch.save(state, ckpt)
    code = main(["train", "--style", str(style_path), "--data", str(photos), "-o", str(tmp_path / "m.safetensors"),
                 "--resume", *TRAIN])  # resumed at its last iteration, as the issue's case
    one_line(capsys, code, "checkpoint")
    assert not (tmp_path / "m.safetensors").exists()


def test_a_model_with_nan_weights_is_refused_when_loaded(tmp_path, capsys, content_path):
    net = TransformerNet(width=0.25)
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))
    bad = save_model(net, tmp_path / "nanweights.safetensors", {"style_name": "nan"})
    out = tmp_path / "o.png"
    one_line(capsys, main(["stylize", "--model", str(bad), str(content_path), "-o", str(out), *FP32]), "not finite")
    assert not out.exists()
    with pytest.raises(ImpastoError, match="not finite"):
        impasto.stylize(content_path, bad)


def test_json_never_carries_a_non_finite_number():
    from impasto.core.results import Result, jsonable

    assert jsonable({"a": float("nan"), "b": [float("inf"), 1.0]}) == {"a": None, "b": [None, 1.0]}
    from impasto.videos.transfer import VideoResult

    result = VideoResult("o.mp4", 1, 8, 8, 25.0, 0.1, 10.0, False, warping_error=float("nan"))
    assert isinstance(result, Result)
    text = json.dumps(result.summary(), allow_nan=False)  # raises on NaN
    assert json.loads(text)["warping_error"] is None


def test_a_mix_of_huge_weights_is_the_even_mix(tmp_path, content_path):
    huge = impasto.stylize(content_path, mix="starry_night=1e308,mosaic=1e308", **dict(precision="fp32"))
    even = impasto.stylize(content_path, mix="starry_night=1,mosaic=1", **dict(precision="fp32"))
    assert np.asarray(huge).std() > 10  # not a flat grey image
    assert np.array_equal(np.asarray(huge), np.asarray(even))


def test_conflicting_options_are_refused(tmp_path, capsys, content_path):
    one_line(capsys, main(["stylize", "--model", "starry_night", "--mix", "wave=1", str(content_path),
                           "-o", str(tmp_path / "o.png"), *FP32]), "--mix")
    code = main(["reconstruct", str(content_path), "--target", "style", "--grid", "--layers", "relu1_1",
                 "-o", str(tmp_path / "g.png")])
    one_line(capsys, code, "--grid")
    assert not list(tmp_path.iterdir())


def test_audio_rates_and_durations_beyond_what_works_are_refused_before_the_work(tmp_path, capsys):
    tone = (0.3 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)
    soundfile.write(tmp_path / "a.wav", tone, 8000)
    soundfile.write(tmp_path / "b.wav", tone[::-1].copy(), 8000)
    for rate in ("384000", "256000"):
        code = main(["audio", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "-o", str(tmp_path / "x.ogg"),
                     "--sample-rate", rate, "--quiet"])
        one_line(capsys, code, "192000")
    code = main(["audio", "--texture", str(tmp_path / "b.wav"), "-o", str(tmp_path / "t.wav"), "--duration", "1e300"])
    one_line(capsys, code, "--duration")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]  # no output, no hidden temporary


def test_a_full_disk_is_said_as_such(tmp_path, monkeypatch):
    import os
    from collections import namedtuple

    from impasto.core.files import atomic_path

    full = namedtuple("statvfs", "f_bavail f_frsize")(0, 4096)
    monkeypatch.setattr(os, "statvfs", lambda folder: full)
    target = tmp_path / "m.ckpt"
    target.write_bytes(b"the last good checkpoint")
    with pytest.raises(OutputError, match="no space left"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")
    assert target.read_bytes() == b"the last good checkpoint" and not math.isnan(0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt"]


def test_out_of_memory_advice_names_the_commands_own_option(monkeypatch, capsys, style_path, photos, tmp_path):
    from impasto.cli import commands

    def no_memory(args):
        raise MemoryError()
    monkeypatch.setitem(commands.COMMANDS, "train", no_memory)
    code = main(["train", "--style", str(style_path), "--data", str(photos), "-o", str(tmp_path / "m.safetensors")])
    line = one_line(capsys, code, "--image-size")
    assert "--size " not in line + " "


@pytest.mark.parametrize("call", [
    lambda img: impasto.stylize(None, "mosaic"),
    lambda img: impasto.stylize(5, "mosaic"),
    lambda img: impasto.stylize(img, 5),
    lambda img: impasto.stylize(img, mix=5),
    lambda img: impasto.optimize(img, [None], size=32, iterations=1),
    lambda img: impasto.video(None, "o.mp4", model="mosaic"),
    lambda img: impasto.audio(None, (None, 5)),
    lambda img: impasto.audio(None, 5),
], ids=["image None", "image int", "model int", "mix int", "style None", "video None", "samples None", "clip int"])
def test_bad_values_from_python_raise_impasto_error(call):
    with pytest.raises(ImpastoError):
        call(Image.new("RGB", (40, 30)))
