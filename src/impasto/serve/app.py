"""The FastAPI app: the REST API (documented at /docs) and the one page (static/index.html).

Every request names jobs by the IDs the store made; uploads are decoded (and re-encoded as PNG)
before a job exists, so only real images of bounded size reach the workers."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import time
import warnings
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from PIL import Image

from ..core.config import PRESERVE_COLOR, ServeConfig
from ..core.errors import ImpastoError
from .jobs import Workers
from .store import FINISHED, Store
from .styles import painting_for, shipped_styles

STATIC = Path(__file__).resolve().parent / "static"
METHODS = ("fast", "best")


def default_data_dir() -> Path:
    import os

    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "impasto" / "serve"


def create_app(config: ServeConfig, engine=None, start_workers: bool = True) -> FastAPI:
    from ..api import default_engine

    store = Store(Path(config.data) if config.data else default_data_dir())
    workers = Workers(store, engine or default_engine())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_workers:
            workers.start()
        yield
        workers.stop()

    app = FastAPI(title="impasto", version=__import__("impasto").__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="Neural style transfer on your own machine. Jobs run in a queue; "
                              "IDs are made by the server.")
    app.state.store, app.state.workers, app.state.config = store, workers, config
    app.openapi_version = "3.0.3"  # the bundled Swagger UI (4.x) renders OpenAPI 3.0, not 3.1

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if config.token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip() \
                or request.query_params.get("token", "")
            if not secrets.compare_digest(given.encode(), config.token.encode()):
                return JSONResponse({"detail": "missing or wrong access token (send 'Authorization: Bearer "
                                               "TOKEN' or ?token=TOKEN)"}, status_code=401)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > config.max_upload_mb * 1e6 * 2 + 1e6:
            return JSONResponse({"detail": f"request too large (uploads are limited to "
                                           f"{config.max_upload_mb:g} MB each)"}, status_code=413)
        return await call_next(request)

    def job_or_404(job_id: str):
        job = store.get(job_id) if job_id.isalnum() and len(job_id) == 32 else None
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    async def read(upload: UploadFile, what: str) -> bytes:
        data = await upload.read(int(config.max_upload_mb * 1e6) + 1)
        if len(data) > config.max_upload_mb * 1e6:
            raise HTTPException(413, f"the {what} is larger than {config.max_upload_mb:g} MB")
        if not data:
            raise HTTPException(400, f"the {what} is empty")
        return data

    def video_frame(data: bytes) -> bytes | None:
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
                if width * height > config.max_pixels:
                    raise HTTPException(413, f"the video's frames have {width}x{height} pixels, more than "
                                             f"the {config.max_pixels} allowed")
                seconds = clip.declared_end()
                if seconds is not None and seconds > config.max_video_seconds:
                    raise HTTPException(413, f"the video is {seconds:.0f} s long; the limit is "
                                             f"{config.max_video_seconds:g} s")
                try:
                    frame = next(clip.container.decode(video=0))
                except Exception:  # noqa: BLE001 - any decoding failure: not a video we take
                    raise HTTPException(415, "the video does not decode") from None
                out = io.BytesIO()
                frame.to_image().save(out, format="PNG")
                return out.getvalue()
            finally:
                clip.close()

    async def decoded(upload: UploadFile, what: str, data: bytes | None = None) -> bytes:
        """The upload decoded as an image and re-encoded as PNG; 4xx for anything else."""
        data = data if data is not None else await read(upload, what)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))
                if image.width * image.height > config.max_pixels:
                    raise HTTPException(413, f"the {what} has {image.width}x{image.height} pixels, more than "
                                             f"the {config.max_pixels} allowed")
                image.load()
        except HTTPException:
            raise
        except Exception:  # noqa: BLE001 - whatever Pillow raises, it is not an image we take
            raise HTTPException(415, f"the {what} is not an image this server can read") from None
        from ..core.images import load_image

        try:  # decodable, but perhaps not usable (too small, odd mode): the request is wrong
            image = load_image(image, what)
        except ImpastoError as exc:
            raise HTTPException(400, str(exc)) from None
        if min(image.size) < 16:
            raise HTTPException(400, f"the {what} is {image.width}x{image.height}: sides must be at least 16 px")
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    def make_room(needed: int) -> None:
        quota = config.quota_mb * 1e6
        if store.used_bytes() + needed <= quota:
            return
        if config.prune:
            for job in sorted(store.list(), key=lambda j: j.created):
                if job.status in FINISHED:
                    store.delete(job.id)
                    if store.used_bytes() + needed <= quota:
                        return
        raise HTTPException(507, f"the data folder is over its quota of {config.quota_mb:g} MB; delete old "
                                 "jobs (or start the server with --prune)")

    # The API's page from swagger-ui-bundle's files (FastAPI's default loads them from a CDN, which
    # an offline machine cannot reach); with a token, the page passes it on to /openapi.json.
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-files", StaticFiles(directory=swagger_ui_path), name="docs-files")

    @app.get("/docs", include_in_schema=False)
    def docs():
        suffix = f"?token={config.token}" if config.token else ""
        return get_swagger_ui_html(openapi_url="/openapi.json" + suffix, title="impasto API",
                                   swagger_js_url="/docs-files/swagger-ui-bundle.js" + suffix,
                                   swagger_css_url="/docs-files/swagger-ui.css" + suffix,
                                   swagger_favicon_url="/docs-files/favicon-32x32.png" + suffix)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse((STATIC / "index.html").read_text())

    @app.get("/api/health")
    def health():
        jobs = store.list()
        return {"status": "ok", "version": app.version,
                **{s: sum(j.status == s for j in jobs) for s in ("queued", "running")}}

    @app.get("/api/styles")
    def styles():
        return shipped_styles()

    @app.get("/api/styles/{name}/painting")
    def painting(name: str):
        try:
            return FileResponse(painting_for(name), media_type="image/jpeg")
        except ImpastoError:
            raise HTTPException(404, f"no shipped style {name!r}") from None

    @app.post("/api/jobs")
    async def submit(photo: UploadFile = File(..., description="the photo, or a video clip (method fast)"),
                     style: str | None = Form(None, description="a shipped style's name"),
                     style_file: UploadFile | None = File(None, description="any painting (method best)"),
                     method: str = Form("fast", description="fast (a network, seconds) or best (optimization, minutes)"),
                     size: int | None = Form(None, description="long side of the result in pixels (16..2048)"),
                     preserve_color: str = Form("none", description="none, luminance or histogram"),
                     iterations: int | None = Form(None, description="best: L-BFGS iterations (1..2000)"),
                     style_weight: float | None = Form(None, description="best: style weight (default 3e-4)"),
                     temporal: bool = Form(True, description="video: temporal consistency (Ruder et al.)")):
        if method not in METHODS:
            raise HTTPException(400, f"method must be fast or best, not {method!r}")
        if preserve_color not in PRESERVE_COLOR:
            raise HTTPException(400, f"preserve_color must be one of {', '.join(PRESERVE_COLOR)}")
        if size is not None and not 16 <= size <= 2048:
            raise HTTPException(400, "size must be between 16 and 2048")
        if iterations is not None and not 1 <= iterations <= 2000:
            raise HTTPException(400, "iterations must be between 1 and 2000")
        if style_weight is not None and not style_weight > 0:
            raise HTTPException(400, "style_weight must be above 0")
        has_file = style_file is not None and style_file.filename
        if bool(style) == bool(has_file):
            raise HTTPException(400, "give either style (a shipped style's name) or style_file (a painting)")
        if style and style not in {s["name"] for s in shipped_styles()}:
            raise HTTPException(400, f"no shipped style {style!r} (see /api/styles)")
        if has_file and method == "fast":
            raise HTTPException(400, "an uploaded painting has no trained network: use method best")
        if style and method == "best":
            try:
                painting_for(style)
            except ImpastoError:
                raise HTTPException(400, f"style {style!r} has no painting to optimize towards: upload it "
                                         "as style_file") from None
        data = await read(photo, "photo")
        thumbnail = None
        try:
            Image.open(io.BytesIO(data))
        except Exception:  # noqa: BLE001 - not an image: perhaps a video
            thumbnail = video_frame(data)
        if thumbnail is not None:
            if method != "fast":
                raise HTTPException(400, "videos are stylized with method fast (best would take minutes per frame)")
            files = {"photo.png": thumbnail, "input.video": data}
        else:
            files = {"photo.png": await decoded(photo, "photo", data)}
        if has_file:
            files["style.png"] = await decoded(style_file, "painting")
        make_room(sum(len(d) for d in files.values()))
        settings = {"style": style, "style_file": bool(has_file), "size": size, "preserve_color": preserve_color,
                    "iterations": iterations, "style_weight": style_weight,
                    "photo_name": Path(photo.filename or "photo").name[:100],
                    "video": thumbnail is not None, "temporal": temporal}
        job = store.create(method, settings, files)
        workers.notify()
        return {"id": job.id, "status": job.status}

    @app.get("/api/jobs")
    def jobs():
        return [j.public() for j in store.list()]

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str):
        return job_or_404(job_id).public()

    @app.get("/api/jobs/{job_id}/events")
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

    @app.get("/api/jobs/{job_id}/result")
    def result(job_id: str, download: bool = False):
        video = (store.folder(job_id) / "result.mp4").is_file()
        response = job_file(job_id, "result.mp4" if video else "result.png", "video/mp4" if video else "image/png",
                            "the job has no result (yet)")
        if download:
            suffix = "mp4" if video else "png"
            response.headers["Content-Disposition"] = f'attachment; filename="impasto-{job_id[:8]}.{suffix}"'
        return response

    @app.get("/api/jobs/{job_id}/preview")
    def preview(job_id: str):
        return job_file(job_id, "preview.jpg", "image/jpeg", "no intermediate image yet")

    @app.get("/api/jobs/{job_id}/photo")
    def photo_of(job_id: str):
        return job_file(job_id, "photo.png", "image/png", "no photo")

    @app.get("/api/jobs/{job_id}/input")
    def input_of(job_id: str):
        """What the job was given: the photo (as PNG) or the video clip as uploaded."""
        if store.get(job_id) is not None and (store.folder(job_id) / "input.video").is_file():
            return job_file(job_id, "input.video", "application/octet-stream", "no input")
        return job_file(job_id, "photo.png", "image/png", "no photo")

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str):
        job = job_or_404(job_id)
        if job.status == "queued":
            workers.cancel(job_id)  # so a worker that has just picked it up drops it
            store.update(job_id, status="cancelled", finished=time.time())
        elif job.status == "running":
            workers.cancel(job_id)
        else:
            raise HTTPException(409, f"the job is {job.status}: nothing to cancel")
        return store.get(job_id).public()

    @app.delete("/api/jobs/{job_id}")
    def delete(job_id: str):
        job = job_or_404(job_id)
        if job.status == "running":
            workers.cancel(job_id)
        store.delete(job_id)
        return {"deleted": job_id}

    return app


def serve(config: ServeConfig) -> None:
    """Run the app under uvicorn (blocking)."""
    import uvicorn

    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
