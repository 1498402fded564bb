"""impasto video at tiny size: containers, codecs, rate, size and audio kept; flicker measured and
reduced without blur (Ruder et al. 2016; Lai et al. 2018); frames streamed; bad input refused."""

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

import impasto
from impasto.cli import main
from impasto.core.images import to_tensor
from impasto.losses.objective import Objective, Targets, style_targets
from impasto.testing import pan_zoom, write_clip

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
PHOTO = SHARED / "content" / "tubingen.jpg" if (SHARED / "content" / "tubingen.jpg").is_file() \
    else ROOT / "examples" / "tubingen.jpg"
MODEL = "mosaic"


def frames_of(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def photo():
    return Image.open(PHOTO).convert("RGB")


@pytest.fixture(scope="module")
def clip(tmp_path_factory, photo):
    """A 30000/1001 fps pan and zoom with a moving occluder and an AAC tone; 90x50: sides that are
    not multiples of 4."""
    path = tmp_path_factory.mktemp("clips") / "pan.mp4"
    write_clip(path, pan_zoom(photo, 24, (90, 50)), tone=440.0)
    return path


def style_losses(frames, painting):
    """Gatys et al.'s style loss of each frame against the painting (VGG16, relu1_1..relu5_1)."""
    engine = impasto.default_engine()
    placement = engine.placement("cpu", "fp32")
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    vgg = engine.vgg(list(layers), "vgg16", "max", None, placement)
    targets = style_targets(vgg, [to_tensor(painting.resize((128, 128)))], [1.0], layers)
    objective = Objective(vgg, Targets({}, targets, {layer: 0.2 for layer in layers}), {"style": 1.0})
    with torch.no_grad():
        return [objective(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255).terms["style"].item()
                for f in frames]


@pytest.mark.slow
def test_temporal_halves_the_flicker_without_blurring_the_style(tmp_path, photo):
    source = tmp_path / "pan.mkv"
    write_clip(source, pan_zoom(photo, 20, (128, 72)), container_format="matroska")
    steady = impasto.video(source, tmp_path / "steady.mkv", model=MODEL).summary()
    loose = impasto.video(source, tmp_path / "loose.mkv", model=MODEL, temporal=False).summary()
    assert steady["warping_error"] <= 0.5 * steady["warping_error_frame_by_frame"], steady
    assert loose["warping_error"] == pytest.approx(loose["warping_error_frame_by_frame"])
    assert steady["warping_error_input"] < steady["warping_error"]  # the input is the floor
    painting = Image.open(SHARED / "style" / "mosaic.jpg") if (SHARED / "style").is_dir() else photo
    rise = np.mean(style_losses(frames_of(tmp_path / "steady.mkv"), painting)) / \
        np.mean(style_losses(frames_of(tmp_path / "loose.mkv"), painting))
    assert rise < 1.2, rise


def test_rate_size_and_audio_are_kept(tmp_path, clip, capsys):
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "--model", MODEL, "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"output", "frames", "width", "height", "fps", "seconds", "frames_per_second",
                            "audio", "warping_error", "warping_error_frame_by_frame", "warping_error_input",
                            "runtime", "timings"}
    assert summary["runtime"] == "openvino"  # runtime auto on a CPU: one frame size, one compile
    assert summary["frames"] == 24 and (summary["width"], summary["height"]) == (90, 50)
    assert summary["fps"] == pytest.approx(30000 / 1001) and summary["audio"] is True
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.average_rate == Fraction(30000, 1001)
        assert (video.codec_context.width, video.codec_context.height) == (90, 50)
        assert audio.codec_context.name == "aac"
        frames = [f for f in container.decode(video=0)]
    assert len(frames) == 24
    with av.open(str(clip)) as original:
        copied = [bytes(p) for p in original.demux(audio=0) if p.size]
    with av.open(str(out)) as result:
        kept = [bytes(p) for p in result.demux(audio=0) if p.size]
    assert kept == copied  # the audio packets are the input's, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize("source, target", [
    (("libvpx-vp9", "yuv420p", "webm", "webm"), ".mp4"),      # VP9 + Opus in WebM -> MP4 (Opus copied)
    (("libx265", "yuv420p10le", "matroska", "mkv"), ".webm"),  # 10-bit H.265 + AAC -> WebM (AAC -> Opus)
    (("libx264", "yuv420p", "mov", "mov"), ".mkv"),
    (("libx264", "yuv420p", "mp4", "mp4"), ".gif"),
    (("gif", "rgb8", "gif", "gif"), ".mp4"),                   # animated GIF
])
def test_common_containers_and_codecs(tmp_path, photo, source, target):
    codec, pix_fmt, muxer, suffix = source
    path = tmp_path / f"in.{suffix}"
    write_clip(path, pan_zoom(photo, 8, (64, 48)), fps=Fraction(25), codec=codec, pix_fmt=pix_fmt,
               tone=None if muxer == "gif" else 330.0, container_format=muxer)
    out = tmp_path / f"out{target}"
    summary = impasto.video(path, out, model=MODEL, measure=False).summary()
    assert summary["frames"] == 8 and (summary["width"], summary["height"]) == (64, 48)
    assert summary["audio"] is (muxer != "gif" and target != ".gif")
    assert len(frames_of(out)) == 8


def test_runtime_auto_takes_openvino_for_a_clip_and_torch_without_a_cache(tmp_path, clip, monkeypatch):
    """On a CPU a clip's frames run on OpenVINO (one size, one compile; the export is made for it);
    with no writable cache for that export, on torch. (The two runtimes' pictures are compared in
    test_stylize; through H.264 at this size the codec's own noise, ~4 levels, would hide them.)"""
    auto = impasto.video(clip, tmp_path / "auto.mp4", model=MODEL, temporal=False, measure=False).summary()
    asked = impasto.video(clip, tmp_path / "torch.mp4", model=MODEL, temporal=False, measure=False,
                          runtime="torch").summary()
    assert (auto["runtime"], asked["runtime"]) == ("openvino", "torch")
    (tmp_path / "not_a_folder").write_text("")
    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path / "not_a_folder"))
    fallback = impasto.video(clip, tmp_path / "fallback.mp4", model=MODEL, temporal=False, measure=False).summary()
    assert fallback["runtime"] == "torch" and fallback["frames"] == 24


def test_start_duration_and_size(tmp_path, clip):
    summary = impasto.video(clip, tmp_path / "part.mp4", model=MODEL, start=0.2, duration=0.3, size=60).summary()
    assert summary["frames"] == 9 and (summary["width"], summary["height"]) == (60, 33)  # 0.3 s at 29.97
    with av.open(str(tmp_path / "part.mp4")) as container:
        audio = container.streams.audio[0]
        seconds = sum(p.duration for p in container.demux(audio) if p.size) * audio.time_base
    assert 0.2 < seconds < 0.45


@pytest.mark.slow
def test_memory_stays_flat_with_clip_length(tmp_path, photo):
    """Frames stream: a clip 15x longer needs no more memory (peak RSS of separate processes)."""
    script = ("import resource, sys, impasto; impasto.video(sys.argv[1], sys.argv[2], model='mosaic');"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    peaks = []
    for count in (20, 300):
        path = tmp_path / f"c{count}.mp4"
        write_clip(path, pan_zoom(photo, count, (80, 48)))
        run = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / f"o{count}.mp4")],
                             capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
        assert run.returncode == 0, run.stderr
        peaks.append(int(run.stdout.strip().splitlines()[-1]) / 1024)  # MiB
    assert peaks[1] < peaks[0] + 25, peaks
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.ppm"))  # no frame files


def _unsupported_codec(path, photo):
    """A Matroska file whose codec ID no FFmpeg knows (the MPEG-4 ID renamed, same length)."""
    write_clip(path, pan_zoom(photo, 4, (32, 32)), codec="mpeg4", container_format="matroska")
    data = path.read_bytes()
    assert b"V_MPEG4/ISO/ASP" in data
    path.write_bytes(data.replace(b"V_MPEG4/ISO/ASP", b"V_IMPASTO/NONE!"))


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, photo, clip, capsys):
    soundfile.write(str(tmp_path / "sound.ogg"), np.zeros(8000, np.float32) + 0.1, 8000)
    write_clip(tmp_path / "whole.mkv", pan_zoom(photo, 40, (64, 48)), container_format="matroska")
    data = (tmp_path / "whole.mkv").read_bytes()
    (tmp_path / "truncated.mkv").write_bytes(data[: len(data) // 2])
    (tmp_path / "cut.mp4").write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    _unsupported_codec(tmp_path / "odd.mkv", photo)
    (tmp_path / "noise.mp4").write_bytes(os.urandom(3000))
    cases = {
        "no video stream": (tmp_path / "sound.ogg", "no video stream"),
        "truncated mkv": (tmp_path / "truncated.mkv", "truncated"),
        "truncated mp4": (tmp_path / "cut.mp4", "not a readable video"),
        "unsupported codec": (tmp_path / "odd.mkv", "codec"),
        "image": (ROOT / "examples" / "tubingen.jpg", "still image"),
        "not a video": (tmp_path / "noise.mp4", "not a readable video"),
        "missing": (tmp_path / "nope.mp4", "does not exist"),
    }
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    for name, (path, message) in cases.items():
        code = main(["video", str(path), "-o", str(out), "--model", MODEL, "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1 and message in err, (name, err)
        assert out.read_bytes() == b"previous result", name
    for suffix in (".wav", ".png", ""):
        code = main(["video", str(clip), "-o", str(tmp_path / f"x{suffix}"), "--model", MODEL, "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 1 and "no video encoder" in err and len(err.splitlines()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or p.name.startswith("x")]


@pytest.mark.slow
def test_optimize_method_with_the_temporal_loss(tmp_path, photo):
    """--method optimize: each frame starts from the warped previous result, with Ruder et al.'s
    temporal loss; it flickers less than frames optimized on their own."""
    source = tmp_path / "pan.mp4"
    write_clip(source, pan_zoom(photo, 5, (64, 40)))
    painting = ROOT / "examples" / "starry_night.jpg"
    steady = impasto.video(source, tmp_path / "a.mp4", method="optimize", style=painting, iterations=30).summary()
    loose = impasto.video(source, tmp_path / "b.mp4", method="optimize", style=painting, iterations=30,
                          temporal=False).summary()
    assert steady["frames"] == 5 and steady["warping_error_frame_by_frame"] is None
    assert steady["warping_error"] < 0.7 * loose["warping_error"], (steady, loose)
    with pytest.raises(impasto.ImpastoError, match="--style"):
        impasto.video(source, tmp_path / "c.mp4", method="optimize")
    assert not (tmp_path / "c.mp4").exists()
