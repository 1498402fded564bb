"""Uploads, checked before a job exists: size, pixel count, decodability, quota. Images are
decoded and re-encoded as PNG, so only real images of bounded size reach the workers."""

from __future__ import annotations

import io
import warnings

from fastapi import HTTPException, UploadFile
from PIL import Image

from ..core.config import MIN_SIDE, ServeConfig
from ..core.errors import ImpastoError
from .store import FINISHED, Store


def result_bytes(files: dict[str, bytes], size: int | None, method: str) -> int:
    """What a job will write, reserved in the quota before it runs: a clip's result about as large
    as the clip; an image's at most its raw pixels (PNG), and a best job's previews as much again."""
    if "input.video" in files:
        return len(files["input.video"])
    from ..core.images import long_side_size

    with Image.open(io.BytesIO(files["photo.png"])) as photo:
        width, height = long_side_size(photo.size, size) if size else photo.size
    return 3 * width * height * (2 if method == "best" else 1)


class Uploads:
    def __init__(self, config: ServeConfig, store: Store):
        self.config, self.store = config, store

    async def read(self, upload: UploadFile, what: str) -> bytes:
        data = await upload.read(int(self.config.max_upload_mb * 1e6) + 1)
        if len(data) > self.config.max_upload_mb * 1e6:
            raise HTTPException(413, f"the {what} is larger than {self.config.max_upload_mb:g} MB")
        if not data:
            raise HTTPException(400, f"the {what} is empty")
        return data

    def video_frame(self, data: bytes) -> bytes | None:
        """A clip's first frame as PNG (its thumbnail) if `data` is a video this server decodes
        within the limits, else None; 4xx for a video it will not take."""
        import tempfile

        from ..videos.codec import open_clip

        with tempfile.NamedTemporaryFile(suffix=".video") as tmp:
            tmp.write(data)
            tmp.flush()
            try:
                clip = open_clip(tmp.name)
            except ImpastoError:
                return None
            try:
                width, height = clip.size
                if width * height > self.config.max_pixels:
                    raise HTTPException(413, f"the video's frames have {width}x{height} pixels, more than "
                                             f"the {self.config.max_pixels} allowed")
                seconds = clip.declared_end()
                if seconds is not None and seconds > self.config.max_video_seconds:
                    raise HTTPException(413, f"the video is {seconds:.0f} s long; the limit is "
                                             f"{self.config.max_video_seconds:g} s")
                try:
                    frame = next(clip.container.decode(video=0))
                except Exception:  # noqa: BLE001 - any decoding failure: not a video we take
                    raise HTTPException(415, "the video does not decode") from None
                if seconds is None:  # no declared length (a live-mode file, a raw stream): count frames
                    most = int(clip.fps * self.config.max_video_seconds)
                    counted = 0
                    for packet in clip.container.demux(clip.video):
                        counted += packet.size > 0
                        if counted > most:
                            raise HTTPException(413, f"the video has more than {most} frames, longer than the "
                                                     f"{self.config.max_video_seconds:g} s limit at "
                                                     f"{float(clip.fps):g} frames per second")
                out = io.BytesIO()
                frame.to_image().save(out, format="PNG")
                return out.getvalue()
            finally:
                clip.close()

    async def decoded(self, upload: UploadFile, what: str, data: bytes | None = None) -> bytes:
        """The upload decoded as an image and re-encoded as PNG; 4xx for anything else."""
        data = data if data is not None else await self.read(upload, what)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))
                if image.width * image.height > self.config.max_pixels:
                    raise HTTPException(413, f"the {what} has {image.width}x{image.height} pixels, more than "
                                             f"the {self.config.max_pixels} allowed")
                image.load()
        except HTTPException:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise HTTPException(413, f"the {what} declares more pixels than this server decodes "
                                     f"(at most {self.config.max_pixels})") from None
        except Exception:  # noqa: BLE001 - whatever Pillow raises, it is not an image we take
            raise HTTPException(415, f"the {what} is not an image this server can read") from None
        from ..core.images import load_image

        try:  # decodable, but perhaps not usable (too small, odd mode): the request is wrong
            image = load_image(image, what)
        except ImpastoError as exc:
            raise HTTPException(400, str(exc)) from None
        if min(image.size) < MIN_SIDE:
            raise HTTPException(400, f"the {what} is {image.width}x{image.height}: sides must be at least "
                                     f"{MIN_SIDE} px")
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    def check_memory(self, photo: bytes, size: int | None) -> None:
        """413 for a fast job whose network pass would not fit in memory (checked as the CLI does)."""
        from ..core.images import long_side_size
        from ..feedforward.stylize import check_stylize_memory

        with Image.open(io.BytesIO(photo)) as image:
            out = long_side_size(image.size, size) if size else image.size
        try:
            check_stylize_memory(out, None, overridable=False)
        except ImpastoError as exc:
            raise HTTPException(413, str(exc)) from None

    def make_room(self, needed: int) -> None:
        """Room in the quota for `needed` bytes, a job's uploads and what it will write (see
        result_bytes); with --prune, the oldest finished jobs are deleted for it, but only when
        that makes room: never for a job that is refused anyway."""
        quota = self.config.quota_mb * 1e6
        used = self.store.used_bytes()
        if used + needed <= quota:
            return
        if self.config.prune:
            finished = sorted((j for j in self.store.list() if j.status in FINISHED), key=lambda j: j.created)
            if used - sum(self.store.job_bytes(j.id) for j in finished) + needed <= quota:
                for job in finished:
                    self.store.delete(job.id)
                    if self.store.used_bytes() + needed <= quota:
                        return
        raise HTTPException(507, f"the data folder is over its quota of {self.config.quota_mb:g} MB; delete old "
                                 "jobs (or start the server with --prune)")
