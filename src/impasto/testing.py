"""Synthetic clips with known motion, for the tests, the video bench and the README: a slow pan and
zoom over a photo with a dark disc moving across it (an occluder, so that some pixels disappear
and reappear), written with PyAV."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
from PIL import Image, ImageDraw


def pan_zoom(photo: Image.Image, frames: int, size: tuple[int, int], zoom: float = 1.15,
             occluder: bool = True) -> Iterator[np.ndarray]:
    """`frames` RGB frames (H, W, 3) uint8 of `size` (width, height): a window moving right and
    closing in over the photo, and a disc crossing the frame left to right."""
    photo = photo.convert("RGB")
    width, height = size
    for t in range(frames):
        s = t / max(1, frames - 1)
        scale = 1.0 + (zoom - 1.0) * s               # zoom in ...
        w = min(photo.width, photo.height * width / height) * 0.8 / scale
        h = w * height / width
        left = (photo.width - w) * (0.15 + 0.7 * s)  # ... while panning right
        top = (photo.height - h) / 2
        frame = photo.resize(size, Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
        if occluder:
            draw = ImageDraw.Draw(frame)
            x = width * (0.1 + 0.8 * s)
            r = height * 0.18
            draw.ellipse((x - r, height * 0.55 - r, x + r, height * 0.55 + r), fill=(30, 30, 40))
        yield np.asarray(frame)


def write_clip(path: str | os.PathLike, frames: Iterator[np.ndarray] | list[np.ndarray],
               fps: Fraction = Fraction(30000, 1001), codec: str = "libx264", pix_fmt: str = "yuv420p",
               tone: float | None = None, container_format: str | None = None) -> None:
    """Encode frames (and, with `tone` Hz, a sine tone as an AAC/Opus track) into a clip."""
    out = av.open(str(path), "w", format=container_format)
    video = None
    audio = None
    count = 0
    for frame in frames:
        if video is None:
            video = out.add_stream(codec, rate=fps)
            video.height, video.width = frame.shape[:2]
            video.pix_fmt = pix_fmt
            if tone is not None:
                audio = out.add_stream("libopus" if codec.startswith("libvpx") else "aac", rate=48000)
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
        picture.pts = count
        count += 1
        for packet in video.encode(picture):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)
    if audio is not None:
        seconds = count / float(fps)
        step = audio.codec_context.frame_size or 1024
        samples = np.sin(2 * np.pi * tone * np.arange(int(seconds * 48000)) / 48000).astype(np.float32) * 0.3
        for start in range(0, len(samples) - step + 1, step):
            chunk = av.AudioFrame.from_ndarray(samples[None, start:start + step], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, start
            for packet in audio.encode(chunk):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    out.close()
