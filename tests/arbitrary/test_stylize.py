"""Any painting in one pass: sizes, strength, blends, runtimes, and bad input (tiny network)."""

import numpy as np
import pytest
from PIL import Image

import impasto
from impasto.cli import main

PHOTO = (45, 37)  # odd sides: the network pads to a multiple of 4 and crops back


def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, PHOTO[0] * PHOTO[1] * 3).reshape(PHOTO[1], PHOTO[0], 3)
    return Image.fromarray((0.7 * base + 0.3 * rng.integers(0, 255, base.shape)).astype(np.uint8))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_output_has_the_photos_size_and_takes_the_paintings_style(network, paintings):
    engine = impasto.Engine(precision="fp32")
    out = engine.stylize(photo(), style=paintings[0], style_network=network)
    assert out.size == PHOTO
    other = engine.stylize(photo(), style=paintings[1], style_network=network)
    assert np.abs(pixels(out) - pixels(other)).mean() > 1  # another painting, another result


def test_strength_0_is_the_photo_and_1_the_full_stylization(network, paintings):
    engine = impasto.Engine(precision="fp32")
    full = engine.stylize(photo(), style=paintings[0], style_network=network)
    assert np.array_equal(pixels(engine.stylize(photo(), style=paintings[0], style_network=network, strength=1)),
                          pixels(full))
    assert np.array_equal(pixels(engine.stylize(photo(), style=paintings[0], style_network=network, strength=0)),
                          pixels(photo()))
    half = engine.stylize(photo(), style=paintings[0], style_network=network, strength=0.5)
    assert 0 < np.abs(pixels(half) - pixels(full)).mean()


def test_paintings_blend_by_their_weights(network, paintings):
    engine = impasto.Engine(precision="fp32")
    a = engine.stylize(photo(), style=paintings[0], style_network=network)
    b = engine.stylize(photo(), style=paintings[1], style_network=network)
    only_a = engine.stylize(photo(), style=paintings, style_blend=(1, 0), style_network=network)
    assert np.abs(pixels(only_a) - pixels(a)).max() <= 1
    mixed = engine.stylize(photo(), style=paintings, style_blend=(0.5, 0.5), style_network=network)
    swapped = engine.stylize(photo(), style=paintings[::-1], style_blend=(0.5, 0.5), style_network=network)
    assert np.abs(pixels(mixed) - pixels(swapped)).max() <= 1
    assert np.abs(pixels(mixed) - pixels(a)).mean() > 0.2 and np.abs(pixels(mixed) - pixels(b)).mean() > 0.2


def test_the_engine_reads_each_painting_once(network, paintings):
    engine = impasto.Engine(precision="fp32")
    engine.stylize(photo(), style=paintings[0], style_network=network)
    loads = engine.loads
    engine.stylize(photo(), style=paintings[0], style_network=network)
    stylizer = next(v for k, v in engine._networks.items() if k[0] == "arbitrary")
    assert engine.loads == loads and len(stylizer.embeddings) == 1


def test_style_scale_changes_the_brush(network, paintings):
    engine = impasto.Engine(precision="fp32")
    one = engine.stylize(photo(), style=paintings[0], style_network=network)
    two = engine.stylize(photo(), style=paintings[0], style_network=network, style_scale=2)
    assert np.abs(pixels(one) - pixels(two)).mean() > 0.1


def test_openvino_onnxruntime_and_torch_agree(network, paintings, tmp_path):
    outs = {}
    for runtime in ("torch", "openvino", "onnx"):
        target = tmp_path / f"{runtime}.png"
        photo().save(tmp_path / "photo.png")
        assert main(["stylize", "--style", str(paintings[0]), str(tmp_path / "photo.png"), "-o", str(target),
                     "--style-network", str(network), "--runtime", runtime, "--precision", "fp32"]) == 0
        outs[runtime] = pixels(Image.open(target))
    assert outs["torch"].shape == (PHOTO[1], PHOTO[0], 3)
    assert np.abs(outs["torch"] - outs["openvino"]).max() <= 2
    assert np.abs(outs["torch"] - outs["onnx"]).max() <= 2


def test_cli_takes_as_many_paintings_as_blend_weights(network, paintings, tmp_path):
    photo().save(tmp_path / "a.png")
    photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "b.png")
    out = tmp_path / "out"
    assert main(["stylize", "--style", str(paintings[0]), str(paintings[1]), "--style-blend", "0.7,0.3",
                 str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(out),
                 "--style-network", str(network), "--size", "32"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert max(Image.open(out / "a.png").size) == 32


def test_model_strength_blends_toward_the_photo(model_path, tmp_path):
    engine = impasto.Engine(precision="fp32")
    assert np.array_equal(pixels(engine.stylize(photo(), model_path, strength=0)), pixels(photo()))
    full = pixels(engine.stylize(photo(), model_path)).astype(float)
    half = pixels(engine.stylize(photo(), model_path, strength=0.5)).astype(float)
    assert np.abs(half - (full + pixels(photo())) / 2).max() <= 1


@pytest.mark.parametrize("make, args, message", [
    ("unreadable", [], "is not an image file"),
    ("tiny", [], "needs at least 32 px"),
    ("alpha", [], "transparent pixels"),
    ("grey", [], "single flat colour"),
    ("painting", ["--strength", "1.5"], "--strength must be at most 1"),
    ("painting", ["--strength", "-0.1"], "--strength must be a number >= 0"),
    ("painting", ["--model", "styles:wave"], "not both"),
    ("painting", ["--style-blend", "0.5,0.5"], "--style-blend has 2 weights"),
    ("painting", ["--style-scale", "10"], "--style-scale must be at most 4"),
])
def test_bad_input_is_one_line_and_writes_nothing(network, paintings, tmp_path, capsys, make, args, message):
    painting = tmp_path / "p.png"
    if make == "unreadable":
        painting.write_bytes(b"not an image")
    elif make == "tiny":
        Image.new("RGB", (20, 20), (200, 10, 10)).save(painting)
    elif make == "alpha":
        Image.new("RGBA", (64, 64), (10, 200, 10, 100)).save(painting)
    elif make == "grey":
        Image.new("RGB", (64, 64), (128, 128, 128)).save(painting)
    else:
        painting = paintings[0]
    photo().save(tmp_path / "photo.png")
    target = tmp_path / "out.png"
    target.write_bytes(b"an earlier result")
    code = main(["stylize", "--style", str(painting), *args, str(tmp_path / "photo.png"), "-o", str(target),
                 "--style-network", str(network)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and message in err and len(err.splitlines()) == 1, err
    assert target.read_bytes() == b"an earlier result"


def test_a_painting_may_not_be_overwritten(network, paintings, tmp_path, capsys):
    photo().save(tmp_path / "photo.png")
    painting = tmp_path / "painting.png"
    painting.write_bytes(paintings[0].read_bytes())
    code = main(["stylize", "--style", str(painting), str(tmp_path / "photo.png"), "-o", str(painting),
                 "--style-network", str(network)])
    assert code == 1 and painting.read_bytes() == paintings[0].read_bytes()


def test_preserve_color_keeps_the_photos_colours(network, paintings):
    engine = impasto.Engine(precision="fp32")
    kept = engine.stylize(photo(), style=paintings[0], style_network=network, preserve_color="luminance")
    free = engine.stylize(photo(), style=paintings[0], style_network=network)
    chroma = lambda im: np.asarray(im.convert("YCbCr"), dtype=float)[..., 1:]  # noqa: E731
    assert np.abs(chroma(kept) - chroma(photo())).mean() < np.abs(chroma(free) - chroma(photo())).mean()


def test_a_mask_paints_each_region_in_its_own_painting(network, paintings, tmp_path):
    mask = Image.new("RGB", PHOTO, "black")
    mask.paste(Image.new("RGB", (PHOTO[0] // 2, PHOTO[1]), "white"), (0, 0))  # left half white
    mask.save(tmp_path / "mask.png")
    engine = impasto.Engine(precision="fp32")
    a = pixels(engine.stylize(photo(), style=paintings[0], style_network=network)).astype(float)
    b = pixels(engine.stylize(photo(), style=paintings[1], style_network=network)).astype(float)
    out = pixels(engine.stylize(photo(), mask=tmp_path / "mask.png", style_network=network,
                                region_styles=[("white", paintings[0]), ("black", paintings[1])])).astype(float)
    left, right = slice(0, PHOTO[0] // 2 - 3), slice(PHOTO[0] // 2 + 3, PHOTO[0])
    assert np.abs(out[:, left] - a[:, left]).mean() < 2 and np.abs(out[:, right] - b[:, right]).mean() < 2
    only_left = pixels(engine.stylize(photo(), mask=tmp_path / "mask.png", style_network=network,
                                      region_styles=[("white", paintings[0])])).astype(float)
    assert np.abs(only_left[:, right] - pixels(photo())[:, right]).max() <= 1  # unlisted: the photo


def test_a_mask_with_a_model_or_with_style_is_one_line(network, paintings, tmp_path, capsys):
    Image.new("RGB", PHOTO, "white").save(tmp_path / "mask.png")
    photo().save(tmp_path / "photo.png")
    for extra in (["--model", "styles:wave"], ["--style", str(paintings[0])]):
        code = main(["stylize", *extra, str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png"),
                     "--region-style", f"white={paintings[1]}", "-o", str(tmp_path / "o.png"),
                     "--style-network", str(network)])
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1 and "region" in err, err
    assert not (tmp_path / "o.png").exists()
    assert main(["stylize", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png"), "--region-style",
                 f"white={paintings[1]}", "-o", str(tmp_path / "o.png"), "--style-network", str(network)]) == 0


def test_auto_runtime_exports_then_runs_one_photo_on_onnxruntime(network, paintings, tmp_path, capsys):
    """The first command on a machine runs torch and exports; then one photo runs on onnxruntime
    (the soonest to start) and several on OpenVINO (the faster pass)."""
    photo().save(tmp_path / "a.png")
    photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "b.png")
    from impasto.arbitrary.network import load_arbitrary, save_arbitrary

    own = tmp_path / "own.safetensors"  # a file of its own (its own digest): no exports cached by other tests

    net, meta = load_arbitrary(network)
    save_arbitrary(net, own, {**meta, "iterations": "1"})

    def runtime(*inputs: str, out: str) -> str:
        assert main(["stylize", "--style", str(paintings[0]), *inputs, "-o", str(tmp_path / out),
                     "--style-network", str(own), "--json", "--precision", "fp32"]) == 0
        import json

        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["runtime"]

    assert runtime(str(tmp_path / "a.png"), out="1.png") == "torch"
    assert runtime(str(tmp_path / "a.png"), out="2.png") == "onnx"
    assert runtime(str(tmp_path / "a.png"), str(tmp_path / "b.png"), out="both") == "openvino"
    assert np.abs(pixels(Image.open(tmp_path / "1.png")) - pixels(Image.open(tmp_path / "2.png"))).max() <= 2
