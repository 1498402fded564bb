"""Video files through PyAV (FFmpeg's libraries from PyPI; no system ffmpeg): opening a clip,
decoding its frames as RGB arrays a packet at a time, and a writer that encodes frames and carries
the audio stream across (copied where the output container takes its codec, re-encoded where not).

Timestamps pass through unchanged (less the start), so the output keeps the input's exact frame
rate, 30000/1001 included, and variable-rate clips keep their timing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..core.errors import ImpastoError, OutputError, first_line

# Output containers: (FFmpeg muxer, video encoder, encoder options, audio codecs it takes as they are,
# audio encoder otherwise; None: the container holds no audio).
CONTAINERS = {
    ".mp4": ("mp4", "libx264", {"crf": "18", "preset": "fast"}, {"aac", "mp3", "alac", "opus", "ac3"}, "aac"),
    ".m4v": ("mp4", "libx264", {"crf": "18", "preset": "fast"}, {"aac", "mp3", "alac", "opus", "ac3"}, "aac"),
    ".mov": ("mov", "libx264", {"crf": "18", "preset": "fast"}, {"aac", "mp3", "alac", "pcm_s16le", "ac3"}, "aac"),
    ".mkv": ("matroska", "libx264", {"crf": "18", "preset": "fast"}, None, "libopus"),  # None: any codec
    ".webm": ("webm", "libvpx-vp9", {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"},
              {"opus", "vorbis"}, "libopus"),
    ".gif": ("gif", "gif", {}, set(), None),
}
IMAGE_DEMUXERS = ("image2", "_pipe")
# The largest frames written: H.264's highest level (6.2) allows 8192 px a side and 35.6 Mpx a frame,
# and players go no further; the other encoders are held to the same so that any output plays.
MAX_SIDE, MAX_PIXELS = 8192, 8192 * 4352  # FFmpeg reads still images as one-frame "videos"


def check_frame_size(size: tuple[int, int]) -> None:
    """Fail before the work on frames larger than the encoders take."""
    width, height = size
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImpastoError(f"output frames of {width}x{height} are larger than video encoders take (at most "
                           f"{MAX_SIDE} px a side and {MAX_PIXELS / 1e6:.1f} Mpx); use a smaller --size")


def check_video_output(path: str | os.PathLike) -> Path:
    """Fail before the work on an output with no video encoder behind its extension."""
    from ..core.files import check_writable

    path = Path(path)
    if path.suffix.lower() not in CONTAINERS:
        raise OutputError(f"video output '{path}' must end in {', '.join(CONTAINERS)} (no video encoder "
                          f"for '{path.suffix or 'no extension'}')")
    if path.is_dir():
        raise OutputError(f"video output '{path}' is a folder")
    check_writable(path.parent)
    return path


@dataclass
class Clip:
    """An opened input: its container, video stream and (if any) audio stream."""

    path: Path
    container: "av.container.InputContainer"
    video: "av.video.stream.VideoStream"
    audio: "av.audio.stream.AudioStream | None"

    @property
    def fps(self) -> Fraction:
        rate = self.video.average_rate or self.video.guessed_rate or self.video.base_rate
        return Fraction(rate) if rate else Fraction(25)

    @property
    def size(self) -> tuple[int, int]:
        return self.video.codec_context.width, self.video.codec_context.height

    def estimated_frames(self, start: float, duration: float | None) -> int:
        seconds = (float(self.container.duration) / av.time_base) if self.container.duration else None
        if self.video.frames and not start and duration is None:
            return int(self.video.frames)
        if seconds is None:
            return 0
        span = max(0.0, seconds - start) if duration is None else min(duration, max(0.0, seconds - start))
        return max(1, round(span * float(self.fps)))

    def declared_end(self) -> float | None:
        """Where the video stream says it ends (seconds), where it says so."""
        if self.video.duration:
            return float((self.video.start_time or 0) * self.video.time_base + self.video.duration * self.video.time_base)
        if self.container.duration and self.audio is None:  # else the audio's length may be in it
            return float(self.container.duration) / av.time_base
        return None

    def close(self) -> None:
        self.container.close()


def open_clip(path: str | os.PathLike) -> Clip:
    if not isinstance(path, (str, os.PathLike)):
        raise ImpastoError(f"the video must be a file path, not {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise ImpastoError(f"video '{path}' does not exist" if not path.exists() else f"video '{path}' is not a file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise ImpastoError(f"'{path}' is not a readable video ({first_line(exc)[:160]})") from None
    if container.format.name.endswith(IMAGE_DEMUXERS):
        container.close()
        raise ImpastoError(f"'{path}' is a still image, not a video (use `impasto stylize` for images)")
    if not container.streams.video:
        container.close()
        raise ImpastoError(f"'{path}' has no video stream")
    video = container.streams.video[0]
    try:
        av.codec.Codec(video.codec_context.name, "r")
    except (av.FFmpegError, ValueError, AttributeError):
        container.close()
        raise ImpastoError(f"'{path}': its video codec is not supported by this FFmpeg build") from None
    if not video.codec_context.width or not video.codec_context.height:
        container.close()
        raise ImpastoError(f"'{path}': its video stream has no frame size (a damaged or unsupported file)")
    video.thread_type = "AUTO"
    audio = container.streams.audio[0] if container.streams.audio else None
    return Clip(path, container, video, audio)


def packets(clip: Clip, start: float) -> Iterator["av.Packet"]:
    """Demuxed packets of the video and audio streams from (the keyframe before) `start`."""
    if start > 0:
        clip.container.seek(int(start / clip.video.time_base), stream=clip.video, backward=True)
    streams = [clip.video] + ([clip.audio] if clip.audio is not None else [])
    try:
        yield from clip.container.demux(*streams)
    except av.FFmpegError as exc:
        raise ImpastoError(f"'{clip.path}' cannot be read to the end: {first_line(exc)[:160]} (truncated or damaged?)") from None


def decode(packet: "av.Packet", clip: Clip) -> list["av.VideoFrame"]:
    try:
        return packet.decode()
    except av.FFmpegError as exc:
        raise ImpastoError(f"'{clip.path}' has video that does not decode: {first_line(exc)[:160]} "
                           "(truncated or damaged?)") from None


def to_rgb(frame: "av.VideoFrame", size: tuple[int, int] | None) -> np.ndarray:
    """(H, W, 3) uint8 RGB at `size` (width, height), whatever the frame's pixel format and depth."""
    if size and size != (frame.width, frame.height):
        return frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")
    return frame.to_ndarray(format="rgb24")


class Writer:
    """The output container: video encoded from RGB frames, audio carried across."""

    def __init__(self, path: Path, suffix: str, clip: Clip, size: tuple[int, int], start: float,
                 end: float | None):
        muxer, encoder, options, takes, audio_encoder = CONTAINERS[suffix]
        self.container = av.open(str(path), "w", format=muxer)
        self.clip, self.start, self.end = clip, start, end
        width, height = size
        self.video = self.container.add_stream(encoder, rate=clip.fps, options=dict(options))
        self.video.width, self.video.height = width, height
        if encoder == "gif":  # a fixed 3-3-2 palette: GIFs are for previews, mp4/webm for quality
            self.video.pix_fmt = "rgb8"
        else:  # 4:2:0 needs even sides: odd-sized clips keep their exact size in 4:4:4
            self.video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        self.video.codec_context.time_base = clip.video.time_base
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        self.frames = 0
        self.notes: list[str] = []  # what the writer had to make up for the input (said in the result)
        self.audio = self.resampler = None
        self.audio_mode = "none"
        source = clip.audio
        if source is not None and audio_encoder is not None:
            if takes is None or source.codec_context.name in takes:
                self.audio = self.container.add_stream_from_template(source)
                self.audio_mode = "copy"
            else:
                self.audio = self.container.add_stream(audio_encoder, rate=48000 if audio_encoder == "libopus"
                                                       else source.codec_context.sample_rate)
                self.audio.layout = "stereo" if source.codec_context.channels >= 2 else "mono"
                self.resampler = av.AudioResampler(format=self.audio.format.name, layout=self.audio.layout.name,
                                                   rate=self.audio.rate)
                self.audio_mode = "encode"
                self.samples = 0

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def write_frame(self, rgb: np.ndarray, source: "av.VideoFrame") -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        time_base = self.video.codec_context.time_base
        if self.frames == 0 and getattr(source, "rotation", 0):  # keep the orientation the clip plays in
            self.video.set_display_rotation(source.rotation)
        if source.pts is None:  # a raw stream: no timestamps at all, so the rate makes them
            if not self.notes:
                self.notes.append(f"the input has no timestamps: frames are timed at {float(self.clip.fps):g} "
                                  "frames per second")
            pts = round(self.frames / self.clip.fps / time_base)
        else:
            pts = round(source.pts * source.time_base / time_base) if source.time_base else source.pts
            if self.first_pts is None:
                self.first_pts = pts
            pts -= self.first_pts
        if self.last_pts is not None and pts <= self.last_pts:  # repeated or backwards timestamps
            pts = self.last_pts + 1
            if "repeated" not in " ".join(self.notes):
                self.notes.append("the input repeats timestamps: such frames are moved just after the one before")
        self.last_pts, self.frames = pts, self.frames + 1
        frame.pts, frame.time_base = pts, time_base
        for packet in self.video.encode(frame):
            self.container.mux(packet)

    def write_audio(self, packet: "av.Packet") -> None:
        """Copy (or re-encode) an audio packet that falls inside the clip's part, moved to start at 0."""
        if self.audio is None or packet.pts is None or (packet.dts is None and self.audio_mode == "copy"):
            return
        seconds = float(packet.pts * packet.time_base)
        # From the start, every packet (encoders' priming packets have negative timestamps).
        if (self.start > 0 and seconds < self.start) or (self.end is not None and seconds >= self.end):
            return
        shift = int(round(self.start / packet.time_base))
        if self.audio_mode == "copy":
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = self.audio
            self.container.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:
            return  # a damaged audio packet: skip it, the video matters
        for frame in frames:
            for out in self.resampler.resample(frame):
                self._encode_audio(out)

    def _encode_audio(self, frame: "av.AudioFrame") -> None:
        """Re-encoded audio is timed by its samples, at its own rate, from 0."""
        frame.pts, frame.time_base = self.samples, Fraction(1, self.audio.rate)
        self.samples += frame.samples
        for encoded in self.audio.encode(frame):
            self.container.mux(encoded)

    def close(self) -> None:
        for packet in self.video.encode(None):
            self.container.mux(packet)
        if self.audio_mode == "encode":
            for out in self.resampler.resample(None):
                self._encode_audio(out)
            for encoded in self.audio.encode(None):
                self.container.mux(encoded)
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except (av.FFmpegError, OSError, ValueError):
            pass
