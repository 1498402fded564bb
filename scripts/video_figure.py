"""The README's video figure: a pan and zoom over a photo of ../shared/data/content, stylized frame
by frame and with temporal consistency: four consecutive frames of each, and under each row its
flicker, |O_t - warp(O_t+1)| (brighter: more flicker), with the warping errors.

    .venv/bin/python scripts/video_figure.py [--model mosaic]   # writes docs/images/video_temporal.png
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

import impasto
from impasto.core.files import atomic_path
from impasto.testing import pan_zoom, write_clip
from impasto.videos.flow import FlowEstimator, grey, reliable, warp

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT.parent / "shared" / "data" / "content" / "golden_gate.jpg"


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def flicker(frames: list[np.ndarray], inputs: list[np.ndarray], t: int) -> np.ndarray:
    """|O_t - warp(O_t+1)| on reliable pixels (input flow), x4 for visibility, as an image."""
    estimate = FlowEstimator("fast")
    forward = estimate(grey(inputs[t]), grey(inputs[t + 1]))
    backward = estimate(grey(inputs[t + 1]), grey(inputs[t]))
    a, b = frames[t].astype(np.float32), frames[t + 1].astype(np.float32)
    difference = np.abs(a - warp(b, forward)) * reliable(forward, backward)[..., None]
    return np.clip(difference * 4, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mosaic")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        clip = folder / "pan.mp4"
        write_clip(clip, pan_zoom(Image.open(PHOTO), 48, (480, 270)))
        inputs = frames_of(clip)
        rows, figures = [], {}
        for temporal in (False, True):
            summary = impasto.video(clip, folder / "out.mp4", model=args.model, temporal=temporal)
            figures[temporal] = summary
            frames = frames_of(folder / "out.mp4")
            picked = range(20, 24)
            rows.append(np.concatenate([frames[t] for t in picked], axis=1))
            rows.append(np.concatenate([flicker(frames, inputs, t) for t in picked], axis=1))
    label_height = 22
    out = Image.new("RGB", (rows[0].shape[1], sum(r.shape[0] for r in rows) + 2 * label_height), "white")
    draw, y = ImageDraw.Draw(out), 0
    for index, temporal in enumerate((False, True)):
        s = figures[temporal]
        draw.text((6, y + 5), f"{'--temporal' if temporal else '--no-temporal (frame by frame)'}: warping error "
                  f"{s['warping_error']:.4f} (input {s['warping_error_input']:.4f}); below: flicker x4", fill="black")
        y += label_height
        for row in rows[2 * index: 2 * index + 2]:
            out.paste(Image.fromarray(row), (0, y))
            y += row.shape[0]
    target = ROOT / "docs" / "images" / "video_temporal.png"
    with atomic_path(target) as tmp:
        out.save(tmp, format="PNG", optimize=True)
    print(json.dumps({str(k): {key: v for key, v in s.items() if key.startswith("warping")} for k, s in figures.items()}))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
