"""Applying a style network: any size, batches, colour preservation, ONNX export and runtime."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from impasto import stylize
from impasto.cli import main
from impasto.core.colour import rgb_to_yiq
from impasto.core.errors import ImpastoError
from impasto.core.images import to_tensor
from impasto.feedforward.export import export_onnx
from impasto.feedforward.stylize import stylize_files
from impasto.nets.transformer import TransformerNet


@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(0)
    image = Image.fromarray((rng.random((37, 51, 3)) * 255).astype(np.uint8))
    image.save(tmp_path / "odd.png")
    return tmp_path / "odd.png"


def test_output_has_input_size(model_path, photo):
    assert stylize(photo, model_path).size == (51, 37)
    assert stylize(photo, model_path, size=80).size == (80, 58)


def test_preserve_color_keeps_photo_chroma(model_path, content_path):
    photo = content_path  # a real photo: its colours stay in gamut under a new luminance
    plain = stylize(photo, model_path, precision="fp32")
    kept = stylize(photo, model_path, precision="fp32", preserve_color="luminance")
    chroma = lambda im: rgb_to_yiq(to_tensor(im))[:, 1:]  # noqa: E731
    assert (chroma(kept) - chroma(Image.open(photo))).abs().mean() < 0.005
    assert (chroma(plain) - chroma(Image.open(photo))).abs().mean() > 0.02
    luma = lambda im: rgb_to_yiq(to_tensor(im))[:, :1]  # noqa: E731
    assert (luma(kept) - luma(plain)).abs().mean() < 0.02


def test_preserve_color_histogram_gives_photo_colour_statistics(model_path, content_path):
    from impasto.core.colour import colour_statistics

    photo = to_tensor(Image.open(content_path).convert("RGB"))
    plain = to_tensor(stylize(content_path, model_path, precision="fp32"))
    kept = to_tensor(stylize(content_path, model_path, precision="fp32", preserve_color="histogram"))
    (mean, cov), (photo_mean, photo_cov) = colour_statistics(kept), colour_statistics(photo)
    plain_mean, plain_cov = colour_statistics(plain)
    # equal up to 8-bit rounding and the clamp to 0..1; the plain output is far off
    assert (mean - photo_mean).abs().max() < 0.01 < (plain_mean - photo_mean).abs().max()
    assert (cov - photo_cov).abs().max() < 0.1 * photo_cov.abs().max() < (plain_cov - photo_cov).abs().max()


def test_bf16_close_to_fp32(model_path, photo):
    fp32 = np.asarray(stylize(photo, model_path, precision="fp32"), dtype=float)
    bf16 = np.asarray(stylize(photo, model_path, precision="bf16"), dtype=float)
    assert np.abs(fp32 - bf16).mean() / 255 < 0.01


def test_batch_folder_and_glob_with_json(tmp_path, model_path, photo, capsys):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.open(photo).save(folder / "a.png")
    Image.open(photo).resize((20, 30)).save(folder / "sub" / "b.jpg")
    code = main(["stylize", str(folder), str(tmp_path / "*.png"), "--model", str(model_path),
                 "-o", str(tmp_path / "out"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"outputs", "ms_per_image", "runtime"} and summary["ms_per_image"] > 0
    assert [p.split("/")[-1] for p in summary["outputs"]] == ["a.png", "b.png", "odd.png"]
    assert Image.open(tmp_path / "out" / "b.png").size == (20, 30)


def test_runtime_auto_for_a_batch_goes_by_its_sizes(tmp_path, photo, monkeypatch):
    """More than 8 inputs: OpenVINO when they come in at most 4 sizes (one compile each; the export
    made now), torch for many sizes; --size sets the sizes the network sees."""
    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path / "cache"))  # nothing exported yet
    same, mixed = tmp_path / "same", tmp_path / "mixed"
    same.mkdir(), mixed.mkdir()
    picture = Image.open(photo)
    for i in range(10):
        picture.save(same / f"{i}.png")
        picture.resize((40 + 4 * i, 30 + 3 * i)).save(mixed / f"{i}.png")  # ten sizes, all 4:3
    (same / "broken.png").write_bytes(b"not an image")  # left out of the count, reported as failed
    summary = stylize_files([str(same)], "mosaic", tmp_path / "a").summary()
    assert summary["runtime"] == "openvino" and len(summary["outputs"]) == 10 and len(summary["failures"]) == 1
    assert stylize_files([str(mixed)], "mosaic", tmp_path / "b").runtime == "torch"
    resized = stylize_files([str(mixed)], "mosaic", tmp_path / "c", size=48)
    assert resized.runtime == "openvino" and Image.open(tmp_path / "c" / "9.png").size == (48, 36)
    assert Image.open(tmp_path / "a" / "3.png").size == picture.size


@pytest.mark.parametrize("styles", [1, 3])
def test_inference_rewrites_compute_the_textbook_network(styles):
    # On a CPU without gradients the network takes faster equivalent forms (output conv over 2x2
    # pixel blocks, upsample-and-conv as a conv over four phases, instance norms as group norms of
    # one channel per group, in channels_last); with gradients it runs the layers as written. Both
    # must give the same image.
    torch.manual_seed(1)
    net = TransformerNet(width=0.25, norm="conditional" if styles > 1 else "instance", styles=styles)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    style = torch.tensor([[0.2, 0.5, 0.3]]) if styles > 1 else None
    for shape in [(1, 3, 37, 51), (2, 3, 24, 30), (1, 3, 64, 48), (2, 3, 32, 48), (1, 3, 8, 12)]:
        x = torch.rand(shape)
        expected = net(x, style)
        for layout in (torch.contiguous_format, torch.channels_last):
            with torch.no_grad():
                got = net.to(memory_format=layout)(x.contiguous(memory_format=layout), style)
            assert got.shape == expected.shape
            assert (got - expected).abs().max() < 1e-4  # float summation order only (1/40 of a level)
            if layout == torch.channels_last and shape[2] % 4 == shape[3] % 4 == 0:
                assert got.is_contiguous(memory_format=torch.channels_last)  # no copy back to plain
    # The rearranged weights are kept between forwards; a training step (weights changed in
    # place) must not leave the fast path on the old ones.
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        net(x, style)
        for p in net.parameters():
            p.mul_(1.5)
        got = net(x, style)
    assert (got - net(x, style)).abs().max() < 1e-4
    if styles > 1:  # gamma(w), beta(w) are kept for the last style: another style must not reuse them
        other = torch.tensor([[0.7, 0.0, 0.3]])
        with torch.no_grad():
            net(x, style)
            got = net(x, other)
        assert (got - net(x, other)).abs().max() < 1e-4
        assert (got - net(x, style)).abs().max() > 1e-2


def test_layer_rewrites_compute_the_textbook_network_outside_the_block_form():
    """A batch with a style per sample takes the layer-by-layer rewrites (the phase upsampling,
    the 9x9 output convolution at stride 2 over 2x2 blocks) rather than the block-form pass."""
    torch.manual_seed(2)
    net = TransformerNet(width=0.25, norm="conditional", styles=3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    style = torch.tensor([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]])
    for shape in [(2, 3, 36, 52), (2, 3, 37, 51)]:
        x = torch.rand(shape)
        expected = net(x, style)
        with torch.no_grad():
            got = net(x, style)
        assert not net.block_form_applies(x, style)
        assert (got - expected).abs().max() < 1e-4


@pytest.mark.parametrize("upsampling", ["phases", "transposed"])
def test_onnx_export_matches_torch(tmp_path, model_path, photo, upsampling):
    onnx_path = export_onnx(model_path, tmp_path / "m.onnx", upsampling=upsampling)
    import onnx
    ops = {node.op_type for node in onnx.load(str(onnx_path)).graph.node}
    assert ("ConvTranspose" in ops) == (upsampling == "transposed")  # the form asked for was written
    torch_out = np.asarray(stylize(photo, model_path, precision="fp32"), dtype=float)
    onnx_out = np.asarray(stylize(photo, onnx_path, runtime="onnx"), dtype=float)
    assert onnx_out.shape == torch_out.shape
    # compare the raw network outputs too, at two sizes (dynamic height and width)
    import onnxruntime as ort

    from impasto.feedforward.model_files import load_model
    net = load_model(model_path)[0]
    session = ort.InferenceSession(str(onnx_path))
    for shape in [(1, 3, 64, 96), (2, 3, 40, 28)]:
        x = torch.rand(shape)
        with torch.no_grad():
            expected = net(x).numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        assert np.abs(got - expected).max() < 1e-3
    assert np.abs(onnx_out - torch_out).max() <= 1.0  # uint8 rounding at most


def test_cli_export_and_onnx_runtime(tmp_path, model_path, photo, capsys):
    assert main(["export", str(model_path), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert main(["stylize", str(photo), "--model", str(tmp_path / "m.onnx"), "--runtime", "onnx",
                 "-o", str(tmp_path / "o.jpg")]) == 0
    assert Image.open(tmp_path / "o.jpg").size == (51, 37)
    assert main(["export", str(model_path), "--onnx", str(tmp_path / "t.onnx"), "--upsampling", "transposed"]) == 0
    import onnx
    assert "ConvTranspose" in {node.op_type for node in onnx.load(str(tmp_path / "t.onnx")).graph.node}
    assert main(["stylize", str(photo), "--model", str(tmp_path / "t.onnx"), "-o", str(tmp_path / "t.png")]) == 0
    assert Image.open(tmp_path / "t.png").size == (51, 37)
    with pytest.raises(ImpastoError, match="unknown upsampling form"):
        export_onnx(model_path, tmp_path / "bad.onnx", upsampling="nearest")
    assert not (tmp_path / "bad.onnx").exists()


def test_readme_export_of_a_shipped_style(tmp_path, photo):
    """The README's pair: `impasto export starry_night --onnx starry_night.onnx`, then stylizing
    with that file, gives the shipped style (which lives in the eight-style network)."""
    assert main(["export", "starry_night", "--onnx", str(tmp_path / "starry_night.onnx")]) == 0
    assert main(["stylize", str(photo), "--model", str(tmp_path / "starry_night.onnx"), "--runtime", "onnx",
                 "-o", str(tmp_path / "o.png")]) == 0
    torch_path = np.asarray(stylize(photo, "starry_night", precision="fp32"), float)
    assert np.abs(np.asarray(Image.open(tmp_path / "o.png"), float) - torch_path).mean() < 1.0


@pytest.mark.parametrize("model, message", [("no_such_style", "no model file or model named"),
                                            ("garbage", "not a readable model file")])
def test_bad_models(tmp_path, photo, model, message):
    if model == "garbage":
        (tmp_path / "garbage.safetensors").write_bytes(b"junk")
        model = str(tmp_path / "garbage.safetensors")
    with pytest.raises(ImpastoError, match=message):
        stylize(photo, model)


def test_bad_input_writes_nothing(tmp_path, model_path, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    code = main(["stylize", str(tmp_path / "bad.jpg"), "--model", str(model_path), "-o", str(tmp_path / "o.png")])
    assert code == 1 and not (tmp_path / "o.png").exists()
    assert capsys.readouterr().err.strip().startswith("impasto: error:")


def test_onnx_runtime_takes_a_model_name_and_exports_once(tmp_path, model_path, photo, monkeypatch):
    import impasto.feedforward.export as export

    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path / "cache"))  # nothing exported yet
    calls = []
    real = export.export_onnx
    monkeypatch.setattr(export, "export_onnx", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = stylize(photo, model_path, runtime="onnx")
    second = stylize(photo, model_path, runtime="onnx")
    assert len(calls) == 1 and first.size == (51, 37)
    assert np.abs(np.asarray(first, int) - np.asarray(stylize(photo, model_path, precision="fp32"), int)).max() <= 1
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_onnxruntime_reads_back_its_optimized_graph_of_a_cached_export(tmp_path, model_path, monkeypatch):
    """A cached export's optimized graph is written once, read back next time with the same result,
    made again when damaged; nothing is written beside a user's own ONNX file."""
    from impasto.core.errors import OutputError
    from impasto.feedforward.export import cached_onnx
    from impasto.feedforward.runners import OnnxRunner

    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path / "cache"))
    export = cached_onnx(model_path, "onnx")
    image = np.random.default_rng(0).random((1, 3, 36, 52), dtype=np.float32)
    first = OnnxRunner(export)(image)
    optimized = [p for p in export.parent.iterdir() if ".ort-" in p.name]
    assert len(optimized) == 1 and not [p for p in export.parent.iterdir() if p.suffix == ".tmp"]
    assert np.array_equal(OnnxRunner(export)(image), first)  # read back
    optimized[0].write_bytes(b"damaged")
    stale = export.parent / f".{optimized[0].name}.impasto-999999999-x.tmp"  # of a run killed mid-write
    stale.write_bytes(b"partial")
    assert np.array_equal(OnnxRunner(export)(image), first)
    assert optimized[0].stat().st_size > 1000  # made again
    assert not stale.exists()

    def unwritable(path):
        raise OutputError(f"cannot write '{path}'")
    optimized[0].unlink()
    monkeypatch.setattr("impasto.core.files.atomic_path", unwritable)
    assert np.array_equal(OnnxRunner(export)(image), first)  # a cache it cannot write to: runs all the same
    assert not optimized[0].exists()
    own = tmp_path / "own"
    own.mkdir()
    (own / "m.onnx").write_bytes(export.read_bytes())
    assert np.array_equal(OnnxRunner(own / "m.onnx")(image), first)
    assert [p.name for p in own.iterdir()] == ["m.onnx"]


def test_openvino_runtime_matches_torch(tmp_path, model_path):
    """OpenVINO runs the export in fp32 to torch's fp32 within rounding, and in bf16 (where the CPU
    has it) about as far from fp32 as torch's bf16; one runner serves several sizes, odd ones too."""
    from impasto.core.placement import Placement
    from impasto.feedforward.model_files import load_model
    from impasto.feedforward.runners import OpenVinoRunner, TorchRunner

    onnx_path = export_onnx(model_path, tmp_path / "m.onnx", upsampling="transposed")  # OpenVINO's form
    net = load_model(model_path)[0].eval()
    fp32 = OpenVinoRunner(onnx_path, precision="fp32")
    auto = OpenVinoRunner(onnx_path, precision="auto")
    torch_fp32 = TorchRunner(net, Placement.resolve("cpu", "fp32").for_transformer())
    rng = np.random.default_rng(1)
    for shape in [(1, 3, 64, 96), (1, 3, 37, 51), (2, 3, 40, 28), (1, 3, 64, 96)]:
        x = rng.random(shape, dtype=np.float32)
        expected = torch_fp32(x)
        assert fp32(x).shape == expected.shape
        assert np.abs(fp32(x) - expected).max() < 1e-4
        assert np.abs(auto(x) - expected).mean() < 2 / 255  # torch bf16 here: 0.8 / 255
    assert len(fp32.compiled) == 3  # the repeated shape reused its compiled model


def test_engine_keeps_its_openvino_runner_between_calls(tmp_path, model_path, photo, monkeypatch):
    """From Python, calls with runtime="openvino" reuse one runner and its compiled sizes."""
    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path / "cache"))
    from impasto import Engine
    from impasto.feedforward.export import onnx_cache_path

    engine = Engine("cpu", "fp32")
    first = engine.stylize(photo, model_path, runtime="openvino")
    again = engine.stylize(photo, model_path, runtime="openvino")
    assert engine.loads == 1 and np.array_equal(np.asarray(first), np.asarray(again))
    runner = engine.exported("openvino", onnx_cache_path(model_path, "openvino"), precision="fp32")
    assert engine.loads == 1 and len(runner.compiled) == 1  # the engine's precision, fp32, was used
    engine.stylize(photo, model_path, runtime="openvino", precision="bf16")
    assert engine.loads == 2  # another precision is another runner


@pytest.mark.slow
def test_runtime_auto_uses_openvino_once_exported_without_importing_torch(tmp_path, model_path, photo):
    """A one-off command on a CPU: the first run (torch) leaves an ONNX export in the cache, the
    next runs OpenVINO in a process that never imports torch, with the same picture."""
    import subprocess
    import sys

    env = {**os.environ, "IMPASTO_CACHE": str(tmp_path / "cache"), "CUDA_VISIBLE_DEVICES": ""}
    script = ("import sys; from impasto.cli import main; code = main(sys.argv[1:]); "
              "print('torch' in sys.modules, 'openvino' in sys.modules); sys.exit(code)")
    outputs = []
    for run in range(2):
        out = tmp_path / f"o{run}.png"
        proc = subprocess.run([sys.executable, "-c", script, "stylize", str(photo), "--model", str(model_path),
                               "--precision", "fp32", "-o", str(out), "--quiet"],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        outputs.append((proc.stdout.strip().splitlines()[-1], np.asarray(Image.open(out), int)))
    assert outputs[0][0] == "True False" and outputs[1][0] == "False True"
    assert np.abs(outputs[0][1] - outputs[1][1]).max() <= 1


@pytest.mark.parametrize("runtime", ["openvino", "onnx", "auto"])
def test_broken_onnx_model_is_one_line_and_writes_nothing(tmp_path, photo, capfd, runtime):
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07junk")
    code = main(["stylize", str(photo), "--model", str(tmp_path / "broken.onnx"), "--runtime", runtime,
                 "-o", str(tmp_path / "o.png")])
    err = capfd.readouterr().err.strip()  # the native libraries' output too
    assert code == 1 and not (tmp_path / "o.png").exists()
    assert err.startswith("impasto: error: cannot load ONNX model") and len(err.splitlines()) == 1


def test_openvino_runtime_refuses_another_device(tmp_path, model_path, photo, capsys):
    code = main(["stylize", str(photo), "--model", str(model_path), "--runtime", "openvino", "--device", "cuda",
                 "-o", str(tmp_path / "o.png")])
    assert code == 1 and not (tmp_path / "o.png").exists()
    assert "the openvino runtime runs on the CPU" in capsys.readouterr().err


def test_onnx_runtime_refuses_bf16_rather_than_running_fp32(tmp_path, model_path, photo, capsys):
    code = main(["stylize", str(photo), "--model", str(model_path), "--runtime", "onnx", "--precision", "bf16",
                 "-o", str(tmp_path / "o.png")])
    assert code == 1 and not (tmp_path / "o.png").exists()
    err = capsys.readouterr().err
    assert "runs in fp32 only" in err and len(err.strip().splitlines()) == 1
