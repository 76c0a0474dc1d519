"""``prodcat serve``: the HTTP service (FastAPI under uvicorn) and the page at ``/``."""

from __future__ import annotations

from typing import Annotated

import typer

from prodcat.cli.options import resolve_model, ModelDir
from prodcat.service.settings import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ITEMS, DEFAULT_MAX_TEXT_CHARS


def serve_command(
    model: ModelDir = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes, each with its own copy of the model.")] = 1,
    max_items: Annotated[int, typer.Option("--max-items", min=1, help="Most items in one request (more: 422).")] = DEFAULT_MAX_ITEMS,
    max_text_chars: Annotated[int, typer.Option("--max-text-chars", min=1, help="Most characters in one item's text (more: 422).")] = DEFAULT_MAX_TEXT_CHARS,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1, help="Largest request body in bytes (larger: 413).")] = DEFAULT_MAX_BODY_BYTES,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level: critical, error, warning, info, debug.")] = "info",
) -> None:
    """Serve a model over HTTP: POST /v1/categorize, GET /v1/model, /healthz, /readyz, /docs, and a page at /."""
    import os

    import uvicorn

    from prodcat.categorizer import Categorizer
    from prodcat.service.settings import Settings

    model = resolve_model(model)
    Categorizer.load(model)  # a wrong or damaged --model fails here with one line, before uvicorn starts
    settings = Settings(model=model.resolve(), max_items=max_items, max_text_chars=max_text_chars, max_body_bytes=max_body_bytes)
    typer.echo(f"serving {model} on http://{host}:{port}/ (API docs at /docs)", err=True)
    if workers == 1:
        from prodcat.service.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return
    os.environ.update(settings.to_env())  # the worker processes read their settings from here
    uvicorn.run("prodcat.service.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_level=log_level)
