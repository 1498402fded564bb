"""Sound files in and out (soundfile, i.e. libsndfile): mono-mixed, resampled with soxr, written
atomically. Every failure is one line; nothing here imports torch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import ImpastoError, OutputError, first_line
from ..core.files import atomic_path, check_writable

WRITE_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}
MAX_RATE = {".ogg": 192000}  # libsndfile's Vorbis encoder crashes above it; WAV and FLAC take every rate
PEAK = 10 ** (-1 / 20)  # outputs peak at -1 dBFS: no clipping, and room for lossy encoders' overshoot


def read_audio(path: str | os.PathLike, sample_rate: int, start: float = 0.0, duration: float | None = None,
               what: str = "audio file") -> np.ndarray:
    """Samples (float32, mono: the mean of all channels) at `sample_rate`, from `start` seconds for
    `duration` seconds (to the end if None)."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise ImpastoError(f"{what} '{path}' does not exist" if not path.exists() else f"{what} '{path}' is not a file")
    try:
        info = soundfile.info(str(path))
        first = int(round(start * info.samplerate))
        count = -1 if duration is None else max(1, int(round(duration * info.samplerate)))
        data, native = soundfile.read(str(path), start=min(first, info.frames), frames=count,
                                      dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        reason = first_line(exc)
        hint = " (this libsndfile cannot read MP3; convert it to WAV or FLAC)" if path.suffix.lower() == ".mp3" else ""
        raise ImpastoError(f"{what} '{path}' is not a readable sound file{hint}: {reason}") from None
    if info.frames == 0:
        raise ImpastoError(f"{what} '{path}' holds no audio (0 samples)")
    if first >= info.frames:
        raise ImpastoError(f"{what} '{path}' is {info.frames / info.samplerate:.2f} s long: nothing "
                           f"from --start {start:g} s")
    if not np.isfinite(data).all():
        raise ImpastoError(f"{what} '{path}' holds samples that are not finite numbers")
    return mono_at(data, native, sample_rate)


def mono_at(samples: np.ndarray, native: int, sample_rate: int) -> np.ndarray:
    """Samples (n,) or (n, channels) at rate `native` -> float32 mono (the channels' mean) at
    `sample_rate`."""
    samples = np.asarray(samples, dtype=np.float32)
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if mono.size and native != sample_rate:
        import soxr

        mono = soxr.resample(mono, native, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def check_audio_output(path: str | os.PathLike, sample_rate: int | None = None) -> Path:
    """Fail before the work on an output whose format, rate or folder cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in WRITE_FORMATS:
        raise OutputError(f"audio output '{path}' must end in {', '.join(WRITE_FORMATS)}")
    most = MAX_RATE.get(path.suffix.lower())
    if sample_rate is not None and most is not None and sample_rate > most:
        raise OutputError(f"{path.suffix} output takes sample rates up to {most} Hz, not {sample_rate}: "
                          "lower --sample-rate, or write .wav or .flac")
    if path.is_dir():
        raise OutputError(f"audio output '{path}' is a folder")
    check_writable(path.parent)
    return path


def peak_normalise(samples: np.ndarray) -> np.ndarray:
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    return samples * (PEAK / peak) if peak > 0 else samples


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono samples atomically, in the format the suffix names (.wav, .flac: 16-bit; .ogg: Vorbis)."""
    import soundfile

    path = check_audio_output(path, sample_rate)
    kind, subtype = WRITE_FORMATS[path.suffix.lower()]
    with atomic_path(path) as tmp:
        try:
            soundfile.write(str(tmp), np.clip(samples, -1, 1), sample_rate, format=kind, subtype=subtype)
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            raise OutputError(f"could not write '{path}': {str(exc).strip().splitlines()[0]}") from None
    return path
