"""Clips an adversary would bring: no timestamps, repeated timestamps, rotation, Opus audio into
.mov, frames larger than encoders take. Each one is synthesised here with PyAV."""

from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from impasto.cli import main
from impasto.testing import pan_zoom, write_clip

ROOT = Path(__file__).resolve().parents[2]
MODEL = "mosaic"


@pytest.fixture(scope="module")
def frames():
    return list(pan_zoom(Image.open(ROOT / "examples" / "tubingen.jpg"), 12, (64, 48)))


def times(path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        decoded = list(c.decode(stream))
        return [float(f.pts * f.time_base) for f in decoded], decoded[0].rotation


def encode(path, frames, rate=25, rotation=0, pts=None, time_base=None, **open_options):
    out = av.open(str(path), "w", **open_options)
    stream = out.add_stream("libx264", rate=rate, options={"bf": "0"})
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    if rotation:
        stream.set_display_rotation(rotation)
    packets = []
    for i, f in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(f, format="rgb24")
        picture.pts = i
        packets += list(stream.encode(picture))
    packets += list(stream.encode(None))
    for i, packet in enumerate(packets):
        if pts is not None:
            packet.time_base = time_base
            packet.pts = packet.dts = pts(i)
        out.mux(packet)
    out.close()


def test_a_raw_stream_without_timestamps_is_timed_by_its_rate(tmp_path, frames, capsys):
    raw = tmp_path / "clip.h264"
    write_clip(raw, frames, Fraction(25), container_format="h264")
    out = tmp_path / "out.mp4"
    assert main(["video", str(raw), "-o", str(out), "--model", MODEL, "--quiet"]) == 0
    assert "no timestamps" in capsys.readouterr().err  # and says so
    seconds, _ = times(out)
    assert len(seconds) == 12 and seconds[-1] == pytest.approx(11 / 25, abs=0.002)
    assert all(b > a for a, b in zip(seconds, seconds[1:]))


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_repeated_timestamps_are_written_in_order(tmp_path, frames, suffix, capsys):
    clip = tmp_path / "dup.mkv"
    encode(clip, frames[:10], pts=lambda i: (i // 2) * 80, time_base=Fraction(1, 1000), format="matroska")
    assert [round(t, 3) for t in times(clip)[0][:4]] == [0.0, 0.0, 0.08, 0.08]
    out = tmp_path / f"out{suffix}"
    assert main(["video", str(clip), "-o", str(out), "--model", MODEL, "--quiet"]) == 0, capsys.readouterr().err
    seconds, _ = times(out)
    assert len(seconds) == 10 and all(b > a for a, b in zip(seconds, seconds[1:]))


def test_rotation_is_kept(tmp_path, frames):
    clip = tmp_path / "portrait.mp4"
    encode(clip, frames, rotation=-90)
    assert times(clip)[1] == -90
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "--model", MODEL, "--quiet"]) == 0
    assert times(out)[1] == -90  # plays upright, as the input does


def test_opus_audio_into_mov_keeps_the_clips_length(tmp_path, frames):
    clip = tmp_path / "clip.webm"
    write_clip(clip, frames * 2, Fraction(24), codec="libvpx-vp9", tone=440)  # 1 s, VP9 + Opus
    out = tmp_path / "out.mov"
    assert main(["video", str(clip), "-o", str(out), "--model", MODEL, "--quiet"]) == 0
    with av.open(str(out)) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "aac"
        last = max(float(p.pts * p.time_base) for p in c.demux(audio) if p.pts is not None)
    assert last < 1.1, last  # not 46 s for a 1 s clip


def test_frames_larger_than_encoders_take_are_refused_before_the_work(tmp_path, frames, capsys):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, frames[:3], Fraction(25))
    out = tmp_path / "k.mp4"
    code = main(["video", str(clip), "-o", str(out), "--model", MODEL, "--size", "100000", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "larger than video encoders take" in err[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
