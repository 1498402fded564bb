"""The REST API's routes, by resource: the page and health, the shipped styles, the jobs."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from PIL import Image

from ..core.config import OptimizeConfig, ServeConfig, StylizeConfig
from ..core.errors import ImpastoError, OptionError
from ..core.options import configure
from .jobs import Workers
from .store import FINISHED, Store
from .styles import Styles
from .uploads import Uploads, result_bytes

STATIC = Path(__file__).resolve().parent / "static"
METHODS = ("fast", "best")


def page_routes(store: Store, version: str) -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse((STATIC / "index.html").read_text())

    @router.get("/api/health")
    def health():
        jobs = store.list()
        return {"status": "ok", "version": version,
                **{s: sum(j.status == s for j in jobs) for s in ("queued", "running")}}
    return router


def style_routes(config: ServeConfig, styles: Styles, store: Store, workers: Workers,
                 uploads: Uploads) -> APIRouter:
    router = APIRouter()

    @router.get("/api/styles")
    def listed():
        return styles.list()

    @router.get("/api/styles/{name}/painting")
    def painting(name: str):
        try:
            return FileResponse(styles.painting(name), media_type="image/jpeg")
        except ImpastoError:
            raise HTTPException(404, f"no style {name!r}") from None

    @router.post("/api/styles")
    async def learn(painting: UploadFile = File(..., description="the painting to learn as a new fast style"),
                    name: str = Form(..., description="the style's name (lower-case letters, digits, - and _)"),
                    iterations: int | None = Form(None, description="training steps (default: the recipe's)")):
        """Learn a painting as a new fast style of the shipped network: a job in its own lane
        (minutes); once done, the style is listed here and fast jobs take it."""
        if not config.train_data:
            raise HTTPException(400, "this server learns no styles: start it with --train-data DIR "
                                     "(a folder of photos)")
        try:
            styles.check_new_name(name)
        except ImpastoError as exc:
            raise HTTPException(400, str(exc)) from None
        if any(j.method == "learn" and j.settings.get("name") == name and j.status in ("queued", "running")
               for j in store.list()):
            raise HTTPException(409, f"the style {name!r} is being learned already")
        if iterations is not None and not 1 <= iterations <= config.max_iterations:
            raise HTTPException(422, f"iterations must be between 1 and {config.max_iterations} on this server")
        data = await uploads.decoded(painting, "painting")
        files = {"style.png": data, "photo.png": data}  # photo.png: the job's thumbnail in the gallery
        uploads.make_room(2 * len(files["style.png"]) + 2_000_000)  # the painting, its model and checkpoint
        job = store.create("learn", {"name": name, "iterations": iterations,
                                     "photo_name": Path(painting.filename or "painting").name[:100]}, files)
        workers.notify()
        return {"id": job.id, "status": job.status}

    @router.delete("/api/styles/{name}")
    def forget(name: str):
        try:
            styles.delete(name)
        except KeyError:
            raise HTTPException(404, f"no learned style {name!r}") from None
        except ImpastoError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"deleted": name}
    return router


def check_job_options(config: ServeConfig, styles: Styles, method: str, style: str | None, has_file: bool,
                      **numbers) -> None:
    """4xx for a job this server will not run: numbers as the commands check them (config.py: finite,
    within their limits) and within this server's own caps (ServeConfig), else 422; other
    choices that do not fit, 400."""
    if method not in METHODS:
        raise HTTPException(400, f"method must be fast or best, not {method!r}")
    given = {k: v for k, v in numbers.items() if v is not None}
    strength = given.pop("strength", None)
    if strength is not None:
        if method != "fast":
            raise HTTPException(400, "strength goes with method fast (method best has style_weight)")
        try:
            configure(StylizeConfig, strength=strength)
        except OptionError as exc:
            raise HTTPException(422, exc.render(exc.option)) from None
    try:
        configure(OptimizeConfig, **given)
    except OptionError as exc:
        raise HTTPException(422 if isinstance(given.get(exc.option), (int, float)) else 400,
                            exc.render(exc.option)) from None
    if given.get("size", 0) > config.max_size:
        raise HTTPException(422, f"size must be at most {config.max_size} on this server")
    if not 1 <= given.get("iterations", 1) <= config.max_iterations:
        raise HTTPException(422, f"iterations must be between 1 and {config.max_iterations} on this server")
    if bool(style) == has_file:
        raise HTTPException(400, "give either style (a shipped style's name) or style_file (a painting)")
    if style and style not in styles.names():
        raise HTTPException(400, f"no style {style!r} (see /api/styles)")
    if style and method == "best":
        try:
            styles.painting(style)
        except ImpastoError:
            raise HTTPException(400, f"style {style!r} has no painting to optimize towards: upload it "
                                     "as style_file") from None


def submit_route(config: ServeConfig, styles: Styles, store: Store, workers: Workers, uploads: Uploads) -> APIRouter:
    router = APIRouter()

    @router.post("/api/jobs")
    async def submit(photo: UploadFile = File(..., description="the photo, or a video clip (method fast)"),
                     style: str | None = Form(None, description="a shipped style's name"),
                     style_file: UploadFile | None = File(None, description="any painting"),
                     method: str = Form("fast", description="fast (one pass, seconds) or best (optimization, minutes)"),
                     size: int | None = Form(None, description="long side of the result in pixels"),
                     preserve_color: str = Form("none", description="none, luminance or histogram"),
                     strength: float | None = Form(None, description="fast: how much style, 0 (the photo) to 1"),
                     iterations: int | None = Form(None, description="best: L-BFGS iterations"),
                     style_weight: float | None = Form(None, description="best: style weight (default 3e-4)"),
                     temporal: bool = Form(True, description="video: temporal consistency (Ruder et al.)")):
        has_file = bool(style_file is not None and style_file.filename)
        check_job_options(config, styles, method, style, has_file, size=size, preserve_color=preserve_color,
                          iterations=iterations, style_weight=style_weight, strength=strength)
        data = await uploads.read(photo, "photo")
        thumbnail = None
        try:
            Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            pass  # an image, too large: decoded() answers 413
        except Exception:  # noqa: BLE001 - not an image: perhaps a video
            thumbnail = uploads.video_frame(data)
        if thumbnail is not None:
            if method != "fast":
                raise HTTPException(400, "videos are stylized with method fast (best would take minutes per frame)")
            files = {"photo.png": thumbnail, "input.video": data}
        else:
            files = {"photo.png": await uploads.decoded(photo, "photo", data)}
        if has_file:
            raw = await uploads.read(style_file, "painting")
            files["style.png"] = await uploads.decoded(style_file, "painting", raw)
            if method == "fast":  # read in one pass: as the command line, refuse what has no style to read
                from ..arbitrary.stylize import load_painting

                try:
                    load_painting(Image.open(io.BytesIO(raw)))
                except ImpastoError as exc:
                    raise HTTPException(400, str(exc)) from None
        if method == "fast" and thumbnail is None:
            uploads.check_memory(files["photo.png"], size)
        uploads.make_room(sum(len(d) for d in files.values()) + result_bytes(files, size, method))
        settings = {"style": style, "style_file": has_file, "size": size, "preserve_color": preserve_color,
                    "iterations": iterations, "style_weight": style_weight, "strength": strength,
                    "photo_name": Path(photo.filename or "photo").name[:100],
                    "video": thumbnail is not None, "temporal": temporal}
        job = store.create(method, settings, files)
        workers.notify()
        return {"id": job.id, "status": job.status}
    return router


def job_routes(store: Store, workers: Workers) -> APIRouter:
    router = APIRouter()

    def job_or_404(job_id: str):
        job = store.get(job_id) if job_id.isalnum() and len(job_id) == 32 else None
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    @router.get("/api/jobs")
    def jobs():
        return [j.public() for j in store.list()]

    @router.get("/api/jobs/{job_id}")
    def job(job_id: str):
        return job_or_404(job_id).public()

    @router.get("/api/jobs/{job_id}/events")
    async def events(job_id: str):
        """Server-sent events: the job as JSON whenever it changes, until it has finished."""
        job_or_404(job_id)

        async def stream():
            last = None
            while True:
                current = store.get(job_id)
                if current is None:
                    yield "event: deleted\ndata: {}\n\n"
                    return
                text = json.dumps(current.public())
                if text != last:
                    last = text
                    yield f"data: {text}\n\n"
                if current.status in FINISHED:
                    return
                await asyncio.sleep(0.25)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    def job_file(job_id: str, name: str, media_type: str, missing: str):
        job_or_404(job_id)
        path = store.folder(job_id) / name
        if not path.is_file():
            raise HTTPException(409 if name.startswith("result") else 404, missing)
        return FileResponse(path, media_type=media_type)

    @router.get("/api/jobs/{job_id}/result")
    def result(job_id: str, download: bool = False):
        video = (store.folder(job_id) / "result.mp4").is_file()
        response = job_file(job_id, "result.mp4" if video else "result.png", "video/mp4" if video else "image/png",
                            "the job has no result (yet)")
        if download:
            suffix = "mp4" if video else "png"
            response.headers["Content-Disposition"] = f'attachment; filename="impasto-{job_id[:8]}.{suffix}"'
        return response

    @router.get("/api/jobs/{job_id}/preview")
    def preview(job_id: str):
        return job_file(job_id, "preview.jpg", "image/jpeg", "no intermediate image yet")

    @router.get("/api/jobs/{job_id}/photo")
    def photo_of(job_id: str):
        return job_file(job_id, "photo.png", "image/png", "no photo")

    @router.get("/api/jobs/{job_id}/input")
    def input_of(job_id: str):
        """What the job was given: the photo (as PNG) or the video clip as uploaded."""
        if store.get(job_id) is not None and (store.folder(job_id) / "input.video").is_file():
            return job_file(job_id, "input.video", "application/octet-stream", "no input")
        return job_file(job_id, "photo.png", "image/png", "no photo")

    @router.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str):
        job = job_or_404(job_id)
        if job.status == "queued":
            workers.cancel(job_id)  # so a worker that has just picked it up drops it
            store.update(job_id, status="cancelled", finished=time.time())
        elif job.status == "running":
            workers.cancel(job_id)
        else:
            raise HTTPException(409, f"the job is {job.status}: nothing to cancel")
        return job_or_404(job_id).public()  # 404 if a DELETE came in between

    @router.delete("/api/jobs/{job_id}")
    def delete(job_id: str):
        job = job_or_404(job_id)
        if job.status == "running":
            workers.cancel(job_id)
        store.delete(job_id)
        return {"deleted": job_id}
    return router
