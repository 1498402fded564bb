"""Loading any photo right, rejecting bad files with one line, writing atomically."""

import logging
import os

import numpy as np
import pytest
from PIL import Image

from impasto.core.errors import ImpastoError
from impasto.core.images import check_output_path, load_image, save_image, to_image, to_tensor


def _gradient(size=(40, 30)):
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    array = np.stack([np.tile(x, (size[1], 1))] * 3, axis=-1)
    return Image.fromarray(array, "RGB")


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGB", "1", "I;16"])
def test_modes_become_rgb(tmp_path, mode):
    source = _gradient()
    if mode == "I;16":
        grey = (np.asarray(source.convert("L"), dtype=np.uint16) * 257)
        source = Image.fromarray(grey)  # 16-bit grayscale
    else:
        source = source.convert(mode)
    path = tmp_path / ("in.jpg" if mode == "CMYK" else "in.png")
    source.save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (40, 30)
    if mode in ("L", "I;16"):
        # the 16-bit ramp maps back onto the 8-bit one, not clipped to white
        assert np.abs(np.asarray(image)[..., 0].astype(int) - np.asarray(_gradient())[..., 0]).max() <= 1


def test_alpha_composited_on_white_and_said(tmp_path, caplog):
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.save(tmp_path / "a.png")
    with caplog.at_level(logging.WARNING, logger="impasto"):
        image = load_image(tmp_path / "a.png")
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((5, 5)) == (255, 0, 0)
    assert "transparency" in caplog.text


def test_exif_orientation_applied(tmp_path):
    image = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").size == (20, 40)


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("folder", "is not a file"),
    ("text", "not an image"),
    ("truncated", "corrupt or truncated"),
    ("tiny", "at least 16 px"),
    ("bomb", "too large"),
])
def test_bad_inputs_raise_one_line(tmp_path, case, message):
    path = tmp_path / "bad.png"
    if case == "folder":
        path.mkdir()
    elif case == "text":
        path.write_text("hello, not a picture\n")
    elif case == "truncated":
        _gradient((200, 200)).save(tmp_path / "full.png")
        data = (tmp_path / "full.png").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "tiny":
        Image.new("RGB", (15, 100)).save(path)
    elif case == "bomb":
        Image.new("1", (12000, 12000)).save(path)  # 144 Mpx in a few kB
    with pytest.raises(ImpastoError) as info:
        load_image(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_tensor_round_trip():
    image = _gradient()
    tensor = to_tensor(image)
    assert tensor.shape == (1, 3, 30, 40) and 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(np.asarray(to_image(tensor)), np.asarray(image))


@pytest.mark.parametrize("name, fmt", [("o.png", "PNG"), ("o.jpg", "JPEG"), ("o.JPEG", "JPEG")])
def test_save_by_extension_leaves_no_temp(tmp_path, name, fmt):
    save_image(_gradient(), tmp_path / name)
    assert Image.open(tmp_path / name).format == fmt
    assert os.listdir(tmp_path) == [name]


def test_failed_save_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "o.png"
    target.write_bytes(b"precious")

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        save_image(_gradient(), target)
    assert target.read_bytes() == b"precious" and os.listdir(tmp_path) == ["o.png"]


@pytest.mark.parametrize("name, message", [("missing/o.png", "does not exist"), ("o.bmp", "must end in")])
def test_bad_output_paths(tmp_path, name, message):
    with pytest.raises(ImpastoError, match=message):
        check_output_path(tmp_path / name)


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_a_large_jpeg_is_decoded_small_but_never_below_the_size_asked(tmp_path, mode):
    from impasto.core.images import resize_long_side

    y, x = np.mgrid[0:300, 0:400]
    rgb = np.stack([x * 255 // 400, y * 255 // 300, (x + y) % 256], -1).astype(np.uint8)
    Image.fromarray(rgb).convert(mode).save(tmp_path / "big.jpg", quality=95)
    reduced = load_image(tmp_path / "big.jpg", long_side=90)
    assert reduced.mode == "RGB" and 90 <= max(reduced.size) < 400  # decoded at a fraction, not below 90
    full = resize_long_side(load_image(tmp_path / "big.jpg"), 90)
    assert np.abs(np.asarray(resize_long_side(reduced, 90), float) - np.asarray(full, float)).mean() < 4
