"""The app factory: ``create_app(settings)`` for ``prodcat serve`` and tests, ``app_from_env`` for
uvicorn workers (``uvicorn.run("prodcat.service.app:app_from_env", factory=True, workers=N)``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from prodcat import __version__
from prodcat.service import routes
from prodcat.service.auth import require_api_key
from prodcat.service.dependencies import ServedModel
from prodcat.service.docs import install_docs
from prodcat.service.handlers import install_handlers
from prodcat.service.limits import BodySizeLimit
from prodcat.service.settings import Settings, settings_from_env

log = logging.getLogger("prodcat.service")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    log.info("loading the model from %s", settings.model)
    served = await run_in_threadpool(ServedModel.load, settings)
    app.state.served = served
    log.info("model loaded: %r", served.categorizer)
    try:
        yield
    finally:
        if app.state.served is served:  # a test harness may run a second lifespan of the same app
            app.state.served = None
        served.close()


def create_app(settings: Settings) -> FastAPI:
    """A FastAPI app serving the model in ``settings.model``; the model loads when the app starts."""
    app = FastAPI(
        title="prodcat",
        version=__version__,
        summary="Product categorization from title and description.",
        lifespan=_lifespan,
        docs_url=None,  # install_docs serves /docs without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.served = None
    install_handlers(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:  # outermost, so that every answer, 413 included, carries the CORS headers
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.include_router(routes.health)
    if settings.api_keys:
        app.include_router(routes.api, dependencies=[Depends(require_api_key)], responses=routes.KEY_ERRORS)
    else:
        app.include_router(routes.api)
    app.include_router(routes.page)
    app.mount("/static", StaticFiles(directory=routes.STATIC_DIR), name="static")
    install_docs(app)
    return app


def app_from_env() -> FastAPI:
    """The app for a uvicorn worker process, with settings from ``PRODCAT_*`` environment variables."""
    return create_app(settings_from_env())
