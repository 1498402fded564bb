"""The FastAPI app: the REST API (documented at /docs) and the one page (static/index.html).

Every request names jobs by the IDs the store made; uploads are checked (serve/uploads.py) before a
job exists, so only real images of bounded size reach the workers."""

from __future__ import annotations

import dataclasses
import secrets
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from ..core.config import ServeConfig
from ..core.files import data_dir
from .guard import LOOPBACK, Guard
from .jobs import Workers
from .routes import job_routes, page_routes, style_routes, submit_route
from .store import Store
from .styles import Styles
from .uploads import Uploads


def secured(config: ServeConfig) -> ServeConfig:
    """`config`, with an access token made up where the host is reachable from elsewhere and none
    was given: a server on another host than loopback never runs without one."""
    if config.host not in LOOPBACK and not config.token:
        return dataclasses.replace(config, token=secrets.token_urlsafe(24))
    return config


def create_app(config: ServeConfig, engine=None, start_workers: bool = True) -> FastAPI:
    from ..api import default_engine

    config = secured(config)
    store = Store(Path(config.data) if config.data else data_dir() / "serve")
    styles = Styles(store.root)
    if engine is None and config.cluster:
        from ..cluster.lane import RemoteEngine

        engine = RemoteEngine(config.cluster)
    workers = Workers(store, engine or default_engine(), styles, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_workers:
            workers.start()
        try:
            yield
        finally:
            if start_workers:
                workers.stop()
            store.close()

    app = FastAPI(title="impasto", version=__import__("impasto").__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="Neural style transfer on your own machine. Jobs run in a queue; "
                              "IDs are made by the server.")
    app.state.store, app.state.workers, app.state.config = store, workers, config
    app.openapi_version = "3.0.3"  # the bundled Swagger UI (4.x) renders OpenAPI 3.0, not 3.1
    app.add_middleware(Guard, config=config)
    _mount_docs(app, config)
    uploads = Uploads(config, store)
    for router in (page_routes(store, app.version), style_routes(config, styles, store, workers, uploads),
                   submit_route(config, styles, store, workers, uploads), job_routes(store, workers)):
        app.include_router(router)
    return app


def _mount_docs(app: FastAPI, config: ServeConfig) -> None:
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


def serve(config: ServeConfig) -> None:
    """Run the app under uvicorn (blocking)."""
    import uvicorn

    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
