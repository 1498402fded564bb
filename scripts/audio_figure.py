"""The README's Audio figure: log-magnitude spectrograms of content, style and result side by side.

    .venv/bin/impasto audio examples/audio/melody.flac examples/audio/drone.flac -o examples/audio/melody_as_drone.flac
    .venv/bin/python scripts/audio_figure.py    # writes docs/images/audio_spectrograms.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from impasto.core.files import atomic_path
from impasto.sounds.audio_files import read_audio
from impasto.sounds.transfer import stft

ROOT = Path(__file__).resolve().parents[1]
CLIPS = [("content: melody.flac", "melody.flac"), ("style: drone.flac", "drone.flac"),
         ("result: melody_as_drone.flac", "melody_as_drone.flac")]


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rate, n_fft = 22050, 2048
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=100, sharey=True)
    for ax, (title, name) in zip(axes, CLIPS):
        samples = read_audio(ROOT / "examples" / "audio" / name, rate)
        log_magnitude = torch.log1p(stft(torch.from_numpy(samples), n_fft).abs()).numpy()
        seconds = len(samples) / rate
        ax.imshow(log_magnitude, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, seconds, 0, rate / 2 / 1000), vmin=0, vmax=np.percentile(log_magnitude, 99.5))
        ax.set_ylim(0, 5)
        ax.set_title(title)
        ax.set_xlabel("seconds")
    axes[0].set_ylabel("kHz")
    fig.tight_layout()
    out = ROOT / "docs" / "images" / "audio_spectrograms.png"
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
