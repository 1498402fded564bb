"""No command may destroy its own inputs: an output that is one of the inputs (or an output folder
whose files would be inputs) is refused before any work, in one line, with every input untouched."""

import hashlib
import shutil

import numpy as np
import pytest
from PIL import Image

from impasto.cli import main

FP32 = ["--precision", "fp32", "--device", "cpu"]
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def one_line(capsys, code):
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("impasto: error:"), err
    assert "is one of the inputs" in err[0], err
    return err[0]


def test_stylize_into_the_input_folder(tmp_path, capsys, model_path):
    same = tmp_path / "same"
    same.mkdir()
    photo = Image.open(ROOT / "examples" / "tubingen.jpg").convert("RGB").resize((48, 36))
    photo.save(same / "a.jpg")
    photo.rotate(180).save(same / "a.png")
    before = digest(same)
    one_line(capsys, main(["stylize", "--model", str(model_path), str(same), "-o", str(same), *FP32]))
    assert digest(same) == before  # a.png untouched, no a-2.png
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    for i in range(3):
        photo.save(pngs / f"{i}.png")
    before = digest(pngs)
    one_line(capsys, main(["stylize", "--model", str(model_path), str(pngs), "-o", str(pngs), *FP32]))
    assert digest(pngs) == before
    one_line(capsys, main(["stylize", "--model", str(model_path), str(same / "a.png"), "-o", str(same / "a.png"), *FP32]))
    assert digest(same)["a.png"] == before.get("a.png", digest(same)["a.png"])


def test_every_command_that_writes_refuses_its_own_input(tmp_path, capsys, content_path, style_path, model_path):
    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    shutil.copy(content_path, photo)
    shutil.copy(style_path, painting)
    model = tmp_path / "m.safetensors"
    shutil.copy(model_path, model)
    before = digest(tmp_path)
    small = ["--size", "32", "--iterations", "1", *FP32]
    for argv in (["optimize", str(photo), str(painting), "-o", str(photo), *small],
                 ["optimize", str(photo), str(painting), "-o", str(painting), *small],
                 ["reconstruct", str(photo), "--target", "style", "--layers", "relu1_1", "-o", str(photo), *small],
                 ["export", str(model), "--onnx", str(tmp_path / "m.safetensors")],
                 ["evaluate", str(photo), "--model", str(model), "--style", str(painting), "--csv", str(photo),
                  "--size", "32", "--iterations", "2", *FP32]):
        code = main(argv)
        if argv[0] == "export":  # .safetensors is not .onnx: refused for its name first
            assert code == 1
            capsys.readouterr()
            continue
        one_line(capsys, code)
    assert digest(tmp_path) == before


def test_video_and_audio_refuse_their_own_input(tmp_path, capsys):
    from impasto.testing import pan_zoom, write_clip

    clip = tmp_path / "clip.mp4"
    write_clip(clip, pan_zoom(Image.open(ROOT / "examples" / "tubingen.jpg"), 4, (48, 32)), 10)
    before = digest(tmp_path)
    one_line(capsys, main(["video", str(clip), "-o", str(clip), "--model", "mosaic"]))
    import soundfile

    tone = np.sin(np.linspace(0, 400, 8000)).astype(np.float32)
    soundfile.write(tmp_path / "a.wav", tone, 8000)
    soundfile.write(tmp_path / "b.wav", tone[::-1].copy(), 8000)
    before = digest(tmp_path)
    one_line(capsys, main(["audio", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "-o", str(tmp_path / "a.wav"),
                           "--iterations", "1", "--sample-rate", "8000"]))
    assert digest(tmp_path) == before


@pytest.mark.parametrize("resume", [False])
def test_train_refuses_to_replace_a_checkpoint_without_overwrite(tmp_path, capsys, style_path, photos, resume):
    args = ["train", "--style", str(style_path), "--data", str(photos), "-o", str(tmp_path / "m.safetensors"),
            "--iterations", "2", "--image-size", "32", "--batch-size", "2", "--width", "0.25", "--quiet", *FP32]
    assert main(args) == 0
    checkpoint = (tmp_path / "m.ckpt").read_bytes()
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "--overwrite" in err[-1] and (tmp_path / "m.ckpt").read_bytes() == checkpoint
    assert main([*args, "--overwrite"]) == 0
