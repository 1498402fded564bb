"""Synthesise the example clips of the README's Audio section (nothing downloaded):

    examples/audio/melody.flac   plucked-string melody over a kick-and-hat rhythm (Karplus-Strong)
    examples/audio/drone.flac    a bowed, vibrato-laden chord with breath noise (the style)

    .venv/bin/python scripts/audio_examples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from impasto.sounds.audio_files import peak_normalise, write_audio

RATE = 22050
OUT = Path(__file__).resolve().parents[1] / "examples" / "audio"


def pluck(frequency: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong: a noise burst circulating in a delay line with a two-point average."""
    period = int(RATE / frequency)
    line = rng.uniform(-1, 1, period)
    out = np.empty(int(seconds * RATE))
    for i in range(out.size):
        out[i] = line[i % period]
        line[i % period] = 0.996 * 0.5 * (line[i % period] + line[(i + 1) % period])
    return out


def melody(rng: np.random.Generator) -> np.ndarray:
    notes = [220.0, 261.6, 329.6, 392.0, 329.6, 261.6, 293.7, 349.2, 440.0, 349.2, 293.7, 246.9]
    beat = 0.5
    out = np.zeros(int(len(notes) * beat * RATE) + RATE)
    for i, f in enumerate(notes):
        start = int(i * beat * RATE)
        tone = pluck(f, 1.0, rng)
        out[start:start + tone.size] += 0.6 * tone
        t = np.arange(int(0.15 * RATE)) / RATE          # kick on every beat: a falling sine
        kick = np.sin(2 * np.pi * (60 + 80 * np.exp(-t * 30)) * t) * np.exp(-t * 25)
        out[start:start + kick.size] += 0.8 * kick
        hat = start + int(beat / 2 * RATE)              # hi-hat on the off-beat: short noise
        n = int(0.03 * RATE)
        out[hat:hat + n] += 0.2 * rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 4))
    return out[: int(len(notes) * beat * RATE)]


def drone(rng: np.random.Generator, seconds: float = 6.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    for base, rate in ((110.0, 5.1), (164.8, 5.7), (220.0, 4.6), (277.2, 6.2)):
        frequency = base * (1 + 0.012 * np.sin(2 * np.pi * rate * t))      # vibrato
        phase = 2 * np.pi * np.cumsum(frequency) / RATE
        for harmonic in range(1, 12):                                       # a bowed, sawtooth-like tone
            out += np.sin(harmonic * phase) / harmonic * (0.85 ** harmonic)
    out *= 1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)                            # slow swell
    breath = np.convolve(rng.standard_normal(t.size), np.ones(8) / 8, mode="same")
    return out + 0.6 * breath


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, samples in (("melody", melody(rng)), ("drone", drone(rng))):
        path = write_audio(OUT / f"{name}.flac", peak_normalise(samples.astype(np.float32)), RATE)
        print(f"wrote {path} ({samples.size / RATE:.1f} s)")


if __name__ == "__main__":
    main()
