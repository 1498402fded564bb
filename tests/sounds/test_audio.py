"""Audio style transfer (Ulyanov & Lebedev 2016) on synthetic signals at tiny size: what the
losses do to a tone and a rhythm, the command's files and JSON, and every kind of bad input."""

import json

import numpy as np
import pytest
import soundfile
import torch

import impasto
from impasto.cli import main
from impasto.sounds.transfer import stft

RATE = 8000
TINY = dict(sample_rate=RATE, n_fft=256, filters=256, iterations=100, griffin_lim_iterations=30,
            precision="fp32", device="cpu")
TINY_FLAGS = ["--sample-rate", "8000", "--n-fft", "256", "--filters", "256", "--iterations", "20",
              "--griffin-lim-iterations", "5", "--quiet"]


def vibrato_tone(seconds=1.5, rate=RATE, frequency=440.0):
    t = np.arange(int(seconds * rate)) / rate
    instantaneous = frequency + 15 * np.sin(2 * np.pi * 5 * t)
    return (0.5 * np.sin(2 * np.pi * np.cumsum(instantaneous) / rate)).astype(np.float32)


def clicks(seconds=1.5, rate=RATE, every=0.25):
    rng = np.random.default_rng(0)
    out = np.zeros(int(seconds * rate), np.float32)
    n = int(0.01 * rate)
    for start in np.arange(0.05, seconds - 0.02, every):
        i = int(start * rate)
        out[i:i + n] += 0.8 * rng.standard_normal(n).astype(np.float32) * np.exp(-np.arange(n) / (n / 5))
    return out


def centroid(samples, rate=RATE):
    spectrum = np.abs(np.fft.rfft(samples))
    return float((spectrum * np.fft.rfftfreq(len(samples), 1 / rate)).sum() / spectrum.sum())


def onset_envelope(samples, n_fft=256):
    log_magnitude = torch.log1p(stft(torch.from_numpy(samples), n_fft).abs()).numpy()
    return np.maximum(np.diff(log_magnitude, axis=1), 0).sum(axis=0)  # positive spectral flux


def test_transfer_takes_the_tone_and_keeps_the_rhythm():
    tone, rhythm = vibrato_tone(), clicks()
    result = impasto.audio((rhythm, RATE), (tone, RATE), **TINY)
    assert result.sample_rate == RATE and len(result.samples) == len(rhythm)
    assert result.losses["style"] * 10 <= result.initial_losses["style"], (result.initial_losses, result.losses)
    # The output's spectral centroid moves at least a third of the way from the clicks' to the tone's.
    before, target, after = centroid(rhythm), centroid(tone), centroid(result.samples)
    assert abs(after - target) < (2 / 3) * abs(before - target), (before, target, after)
    assert np.corrcoef(onset_envelope(result.samples), onset_envelope(rhythm))[0, 1] > 0.5
    assert np.abs(result.samples).max() == pytest.approx(10 ** (-1 / 20), rel=1e-3)  # peak -1 dBFS


def test_texture_keeps_the_dominant_frequency():
    tone = vibrato_tone(frequency=440.0)
    result = impasto.audio(None, (tone, RATE), duration=2.0, **TINY)
    assert len(result.samples) == 2 * RATE
    spectrum = np.abs(np.fft.rfft(result.samples))
    dominant = np.fft.rfftfreq(len(result.samples), 1 / RATE)[spectrum.argmax()]
    assert abs(dominant - 440.0) <= RATE / TINY["n_fft"], dominant  # within one STFT bin


def _write(path, samples, rate, subtype="PCM_16"):
    soundfile.write(str(path), samples, rate, subtype=subtype)
    return str(path)


def test_command_writes_the_clip_and_its_json(tmp_path, capsys):
    content = _write(tmp_path / "c.wav", clicks(1.0), RATE)
    # Style: stereo, 24-bit, 44.1 kHz FLAC: mixed to mono and resampled.
    stereo = np.stack([vibrato_tone(1.0, 44100), vibrato_tone(1.0, 44100, 660.0)], axis=1)
    style = _write(tmp_path / "s.flac", stereo, 44100, "PCM_24")
    out = tmp_path / "out.ogg"
    assert main(["audio", content, style, "-o", str(out), "--json", *TINY_FLAGS]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"output", "seconds", "sample_rate", "duration", "content_loss", "style_loss",
                            "initial_content_loss", "initial_style_loss"}
    assert summary["sample_rate"] == RATE and summary["duration"] == pytest.approx(1.0)
    assert summary["style_loss"] < summary["initial_style_loss"]
    info = soundfile.info(str(out))
    assert info.samplerate == RATE and info.channels == 1 and info.duration == pytest.approx(1.0, abs=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.wav", "out.ogg", "s.flac"]  # no temporaries


@pytest.mark.parametrize("rate", [8000, 96000])
def test_texture_command_at_any_input_rate(tmp_path, capsys, rate):
    style = _write(tmp_path / "s.wav", vibrato_tone(0.5, rate), rate, "PCM_24")
    out = tmp_path / "t.wav"
    assert main(["audio", "--texture", style, "-o", str(out), "--duration", "0.75", "--json", *TINY_FLAGS]) == 0
    assert json.loads(capsys.readouterr().out)["duration"] == pytest.approx(0.75)
    assert soundfile.info(str(out)).frames == int(0.75 * RATE)


def test_start_and_duration_take_part_of_a_clip(tmp_path):
    long = np.concatenate([np.zeros(RATE, np.float32), clicks(2.0)])
    result = impasto.audio((long, RATE), (vibrato_tone(), RATE), start=1.0, duration=0.5,
                           **{**TINY, "iterations": 5})
    assert len(result.samples) == RATE // 2


def _bad_inputs(tmp_path):
    good = _write(tmp_path / "good.wav", clicks(1.0), RATE)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    (tmp_path / "picture.wav").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    silent = _write(tmp_path / "silent.wav", np.zeros(RATE, np.float32), RATE)
    short = _write(tmp_path / "short.wav", clicks(1.0)[:100], RATE)
    header_only = tmp_path / "header.wav"
    soundfile.write(str(header_only), np.zeros(0, np.float32), RATE)
    return good, {
        "missing": (str(tmp_path / "nope.wav"), "does not exist"),
        "empty": (str(tmp_path / "empty.wav"), "not a readable sound file"),
        "corrupt": (str(tmp_path / "corrupt.wav"), "not a readable sound file"),
        "not audio": (str(tmp_path / "picture.wav"), "not a readable sound file"),
        "no samples": (str(header_only), "holds no audio"),
        "silent": (silent, "silent"),
        "too short": (short, "shorter than one STFT window"),
    }


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    good, cases = _bad_inputs(tmp_path)
    out = tmp_path / "out.wav"
    out.write_bytes(b"previous result")
    for name, (path, message) in cases.items():
        for args in (["audio", path, good], ["audio", good, path], ["audio", "--texture", path]):
            code = main([*args, "-o", str(out), *TINY_FLAGS])
            err = capsys.readouterr().err.strip()
            assert code == 1, (name, args, err)
            assert len(err.splitlines()) == 1 and message in err, (name, err)
            assert out.read_bytes() == b"previous result", name
    for args, message in ((["audio", good, good, "-o", str(tmp_path / "x.mp3")], "must end in"),
                          (["audio", good, "-o", str(tmp_path / "y.wav")], "CONTENT STYLE"),
                          (["audio", "--texture", good, good, "-o", str(tmp_path / "z.wav")], "--texture")):
        assert main([*args, *TINY_FLAGS]) != 0
        assert message in capsys.readouterr().err
    assert not any(p.name.startswith(".") or p.suffix == ".mp3" for p in tmp_path.iterdir())


def test_mp3_input_where_libsndfile_reads_it(tmp_path):
    path = tmp_path / "tone.mp3"
    try:
        soundfile.write(str(path), vibrato_tone(1.0, 22050), 22050, format="MP3", subtype="MPEG_LAYER_III")
    except (soundfile.LibsndfileError, TypeError, ValueError):
        pytest.skip("this libsndfile has no MP3 support (reading gives a one-line error instead)")
    result = impasto.audio(None, path, duration=0.5, **{**TINY, "iterations": 5})
    assert len(result.samples) == RATE // 2
