"""Bad input never crashes and never loses data: the robustness issue's cases, at tiny size."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import impasto
from impasto.cli import main
from impasto.core.errors import ImpastoError
from impasto.feedforward.model_files import save_model
from impasto.nets.transformer import TransformerNet

FP32 = ["--precision", "fp32", "--device", "cpu"]


def one_line_error(capsys, code):
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0, "expected a failure"
    assert len(err) == 1 and err[0].startswith("impasto: error:"), err
    assert "internal error" not in err[0] and "Traceback" not in err[0], err
    return err[0]


def _photos(folder, count=3, size=(48, 36)):
    folder.mkdir(exist_ok=True)
    source = Image.open(os.path.join(os.path.dirname(__file__), "..", "examples", "tubingen.jpg")).convert("RGB")
    for i in range(count):
        source.crop((i * 90, i * 40, i * 90 + 400, i * 40 + 300)).resize(size).save(folder / f"p{i}.png")
    return folder




# --- 2. writes that cannot happen: refused before the work, one line after it -----------------------

def test_unwritable_output_is_refused_before_the_work(capsys, content_path, style_path):
    code = main(["optimize", str(content_path), str(style_path), "-o", "/proc/o.png", "--size", "32",
                 "--iterations", "1", *FP32])
    assert "cannot write" in one_line_error(capsys, code)


def test_train_into_an_unwritable_folder_fails_before_training(tmp_path, capsys, style_path):
    steps = []
    with pytest.raises(ImpastoError, match="cannot write"):
        impasto.train(style_path, _photos(tmp_path / "data"), "/proc/m.safetensors", iterations=2,
                      image_size=32, width=0.25, precision="fp32", progress=steps.append)
    assert steps == []  # refused before the first step, not at the first checkpoint


def test_full_disk_is_one_line_and_keeps_the_old_output(tmp_path, capsys, monkeypatch, content_path, style_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"precious")

    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", full)
    code = main(["optimize", str(content_path), str(style_path), "-o", str(out), "--size", "32",
                 "--iterations", "1", *FP32])
    assert "No space left on device" in one_line_error(capsys, code)
    assert out.read_bytes() == b"precious" and os.listdir(tmp_path) == ["o.png"]


def test_evaluate_csv_into_a_folder_is_refused(tmp_path, capsys, model_path, content_path, style_path):
    code = main(["evaluate", "--model", str(model_path), "--style", str(style_path), str(content_path),
                 "--iterations", "1", "--size", "32", "--csv", str(tmp_path), *FP32])
    assert "is a folder" in one_line_error(capsys, code)


# --- 3. sizes that reach the networks --------------------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["--size", "16"], "16x12"),                      # the photo at 16 px is 16x12
    (["--size", "64", "--scales", "5"], "scale 1 of 5"),
    (["--size", "64", "--style-scale", "0.01"], "style image"),
])
def test_working_sizes_too_small(tmp_path, capsys, content_path, style_path, extra, message):
    out = tmp_path / "o.png"
    code = main(["optimize", str(content_path), str(style_path), "-o", str(out), "--iterations", "1",
                 *extra, *FP32])
    assert message in one_line_error(capsys, code) and not out.exists()


def test_panorama_and_reconstruct_too_small(tmp_path, capsys, style_path):
    panorama = tmp_path / "pano.png"
    Image.new("RGB", (1200, 100), "gray").save(panorama)
    code = main(["optimize", str(panorama), str(style_path), "-o", str(tmp_path / "o.png"), "--size", "128",
                 "--iterations", "1", *FP32])
    assert "128x11" in one_line_error(capsys, code)
    code = main(["reconstruct", str(panorama), "--target", "content", "--layers", "relu1_1", "--size", "24",
                 "-o", str(tmp_path / "r.png"), "--iterations", "1", *FP32])
    assert "24x2" in one_line_error(capsys, code) and not (tmp_path / "r.png").exists()


def test_train_style_size_and_evaluate_size(tmp_path, capsys, model_path, content_path, style_path):
    code = main(["train", "--style", str(style_path), "--data", str(_photos(tmp_path / "d")), "-o",
                 str(tmp_path / "m.safetensors"), "--style-size", "8", "--iterations", "1", *FP32])
    assert "--style-size" in one_line_error(capsys, code)
    code = main(["evaluate", "--model", str(model_path), "--style", str(style_path), str(content_path),
                 "--size", "0", "--csv", str(tmp_path / "e.csv"), *FP32])
    assert "--size" in one_line_error(capsys, code)


# --- 4. memory -----------------------------------------------------------------------------------

def test_a_run_that_cannot_fit_is_refused_up_front(tmp_path, capsys, content_path, style_path):
    out = tmp_path / "o.png"
    code = main(["optimize", str(content_path), str(style_path), "-o", str(out), "--size", "48",
                 "--style-scale", "1000", *FP32])
    assert "--tile" in one_line_error(capsys, code) and not out.exists()


def test_memory_limit_is_overridable(content_path, style_path):
    with pytest.raises(ImpastoError, match="GiB"):
        impasto.optimize(content_path, style_path, size=32, iterations=1, max_memory=0.001, precision="fp32")
    assert impasto.optimize(content_path, style_path, size=32, iterations=1, max_memory=0,
                            precision="fp32").size == (32, 24)


# --- 5. checkpoints run no code --------------------------------------------------------------------

class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["exploit", "random bytes", "no config"])
def test_resume_from_a_hostile_or_broken_checkpoint(tmp_path, capsys, style_path, kind):
    ckpt, marker = tmp_path / "bad.ckpt", tmp_path / "pwned"
    if kind == "exploit":
        torch.save({"model": Exploit(marker)}, ckpt)
    elif kind == "random bytes":
        ckpt.write_bytes(os.urandom(2000))
    else:
        torch.save({"model": {}, "iteration": 3}, ckpt)
    code = main(["train", "--style", str(style_path), "--data", str(_photos(tmp_path / "d")), "-o",
                 str(tmp_path / "m.safetensors"), "--resume", str(ckpt), "--iterations", "2",
                 "--image-size", "32", "--width", "0.25", *FP32])
    assert "checkpoint" in one_line_error(capsys, code)
    assert not marker.exists() and not (tmp_path / "m.safetensors").exists()


# --- 6. training photos that do not decode are skipped, not trained on as grey --------------------

def test_undecodable_training_photos_are_skipped_and_counted(tmp_path, monkeypatch, style_path):
    data = _photos(tmp_path / "d", count=2, size=(40, 30))
    jpeg = io.BytesIO()
    Image.open(data / "p0.png").save(jpeg, format="JPEG")
    (data / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    Image.new("RGB", (1, 1)).save(data / "dot.png")
    Image.new("RGB", (15, 500)).save(data / "sliver.png")
    Image.new("RGB", (64, 64)).save(data / "bomb.png")
    painting = tmp_path / "painting.png"
    Image.open(style_path).resize((40, 30)).save(painting)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # so 64x64 is a decompression bomb here
    result = impasto.train(painting, data, tmp_path / "m.safetensors", iterations=1, image_size=16,
                           style_size=40, batch_size=2, width=0.25, precision="fp32")
    assert result.skipped_files == 4


# --- 7. a batch goes on past a bad file ------------------------------------------------------------

def test_stylize_batch_survives_a_bad_file(tmp_path, capsys, model_path, content_path, style_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["stylize", str(content_path), str(bad), str(style_path), "--model", str(model_path),
                 "-o", str(out), "--json", *FP32])
    captured = capsys.readouterr()
    assert code == 1
    summary = json.loads(captured.out)
    assert sorted(os.listdir(out)) == ["content.png", "style.png"]
    assert [f["input"] for f in summary["failures"]] == [str(bad)]
    errors = captured.err.strip().splitlines()
    assert any("bad.jpg" in line for line in errors) and "1 of 3" in errors[-1]


# --- 8. a diverged training run writes no model ------------------------------------------------------

def test_diverged_training_writes_no_model(tmp_path, capsys, style_path):
    out = tmp_path / "m.safetensors"
    code = main(["train", "--style", str(style_path), "--data", str(_photos(tmp_path / "d")), "-o", str(out),
                 "--lr", "1e30", "--iterations", "6", "--checkpoint-every", "100", "--image-size", "32",
                 "--batch-size", "2", "--width", "0.25", *FP32])
    assert "diverged" in one_line_error(capsys, code)
    assert not out.exists() and not out.with_suffix(".ckpt").exists()


# --- 9. malformed values ---------------------------------------------------------------------------

def test_huge_seed_is_one_line(tmp_path, capsys, content_path, style_path):
    code = main(["optimize", str(content_path), str(style_path), "-o", str(tmp_path / "o.png"),
                 "--seed", "99999999999999999999999", "--size", "32", *FP32])
    assert "--seed" in one_line_error(capsys, code)
    code = main(["train", "--style", str(style_path), "--data", str(tmp_path), "-o", str(tmp_path / "m"),
                 "--seed", "99999999999999999999999"])
    assert "--seed" in one_line_error(capsys, code)


@pytest.mark.parametrize("command", ["stylize", "export", "evaluate"])
def test_model_without_width_metadata(tmp_path, capsys, content_path, style_path, command):
    from safetensors.torch import load_file, save_file

    from impasto.feedforward.model_files import read_metadata

    good = save_model(TransformerNet(width=0.25), tmp_path / "good.safetensors", {})
    meta = read_metadata(good)
    del meta["width"]
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(good), str(bad), metadata=meta)
    argv = {"stylize": ["stylize", str(content_path), "--model", str(bad), "-o", str(tmp_path / "o.png")],
            "export": ["export", str(bad), "--onnx", str(tmp_path / "m.onnx")],
            "evaluate": ["evaluate", "--model", str(bad), "--style", str(style_path), str(content_path),
                         "--csv", str(tmp_path / "e.csv")]}[command]
    assert "width" in one_line_error(capsys, main(argv))


# --- 10. smaller -----------------------------------------------------------------------------------

def test_interrupted_train_says_the_checkpoint_is_kept(tmp_path, capsys, monkeypatch, style_path):
    from impasto.cli import commands as cli

    class Interrupting:
        def __call__(self, event):
            if event.iteration == 2:
                raise KeyboardInterrupt

        def close(self):
            pass
    monkeypatch.setattr(cli, "_progress", lambda args: Interrupting())
    out = tmp_path / "m.safetensors"
    code = main(["train", "--style", str(style_path), "--data", str(_photos(tmp_path / "d")), "-o", str(out),
                 "--iterations", "5", "--checkpoint-every", "1", "--image-size", "32", "--batch-size", "2",
                 "--width", "0.25", *FP32])
    err = capsys.readouterr().err.strip()
    assert code == 130 and "nothing was written" not in err and "m.ckpt" in err and "--resume" in err
    assert out.with_suffix(".ckpt").exists() and not out.exists()


def test_stale_temporaries_of_killed_writers_are_cleaned(tmp_path, content_path, style_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        orphan = tmp_path / f".o.png.impasto-{dead.pid}-k2j3h4.tmp"
        busy = tmp_path / f".o.png.impasto-{alive.pid}-a8b7c6.tmp"
        theirs = tmp_path / f".notes.{dead.pid}.k2j3h4.tmp"  # another program's: not ours to remove
        for path in (orphan, busy, theirs):
            path.write_bytes(b"half")
        impasto.run_optimization(content_path, style_path, size=32, iterations=1, precision="fp32",
                                 output=tmp_path / "o.png")
        assert not orphan.exists() and busy.exists() and theirs.exists() and (tmp_path / "o.png").exists()
    finally:
        alive.kill()
        alive.wait()


def test_arrays_and_single_layer_strings(content_path, style_path):
    photo = np.asarray(Image.open(content_path))                     # uint8 H x W x 3
    painting = np.asarray(Image.open(style_path), dtype=np.float32) / 255.0
    image = impasto.optimize(photo, painting, size=32, iterations=2, precision="fp32",
                             content_layers="relu3_2", style_layers="relu2_1")
    assert image.size == (32, 24)
    with pytest.raises(ImpastoError, match="shape"):
        impasto.optimize(np.zeros((4, 32, 32, 3), np.uint8), painting, size=32, iterations=1)
