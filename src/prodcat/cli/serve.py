"""``prodcat serve``: the HTTP service (FastAPI under uvicorn) and the page at ``/``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prodcat.cli.options import resolve_model, ModelDir
from prodcat.service.settings import (
    DEFAULT_LIMIT_CONCURRENCY, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ITEMS, DEFAULT_MAX_TEXT_CHARS, DEFAULT_TIMEOUT_KEEP_ALIVE,
    DEFAULT_TIMEOUT_READ,
)


def serve_command(
    model: ModelDir = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes, each with its own copy of the model.")] = 1,
    max_items: Annotated[int, typer.Option("--max-items", min=1, help="Most items in one request (more: 422).")] = DEFAULT_MAX_ITEMS,
    max_text_chars: Annotated[int, typer.Option("--max-text-chars", min=1, help="Most characters in one item's text (more: 422).")] = DEFAULT_MAX_TEXT_CHARS,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1, help="Largest request body in bytes (larger: 413).")] = DEFAULT_MAX_BODY_BYTES,
    timeout_read: Annotated[float, typer.Option("--timeout-read", min=0.1, help="Seconds a client has to send a whole request, headers and body (later: 408 or disconnected).")] = DEFAULT_TIMEOUT_READ,
    timeout_keep_alive: Annotated[int, typer.Option("--timeout-keep-alive", min=1, help="Seconds an idle keep-alive connection stays open.")] = DEFAULT_TIMEOUT_KEEP_ALIVE,
    limit_concurrency: Annotated[int, typer.Option("--limit-concurrency", min=1, help="Most connections and requests at once, per worker (more: 503).")] = DEFAULT_LIMIT_CONCURRENCY,
    api_key_file: Annotated[Optional[Path], typer.Option("--api-key-file", help="File of API keys, one a line: the /v1 API then needs 'Authorization: Bearer KEY' (default: the keys in PRODCAT_API_KEYS, comma-separated; none: open).")] = None,
    cors_origin: Annotated[Optional[list[str]], typer.Option("--cors-origin", metavar="<origin>", help="A web origin, such as https://a.example (* for any), whose pages may call the API from a browser (CORS); repeat for several (default: PRODCAT_CORS_ORIGINS, comma-separated; none: the same origin only).")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level: critical, error, warning, info, debug.")] = "info",
) -> None:
    """Serve a model over HTTP: POST /v1/categorize, GET /v1/model, /healthz, /readyz, /docs, and a page at /."""
    from prodcat.categorizer import Categorizer
    from prodcat.service import server
    from prodcat.service.auth import configured_api_keys
    from prodcat.service.settings import Settings, configured_cors_origins

    model = resolve_model(model)
    Categorizer.load(model)  # a wrong or damaged --model fails here with one line, before uvicorn starts
    settings = Settings(
        model=model.resolve(), max_items=max_items, max_text_chars=max_text_chars, max_body_bytes=max_body_bytes,
        api_keys=configured_api_keys(api_key_file), cors_origins=configured_cors_origins(cors_origin),
    )
    options = server.ServerOptions(
        host=host, port=port, workers=workers, timeout_read=timeout_read, timeout_keep_alive=timeout_keep_alive,
        limit_concurrency=limit_concurrency, log_level=log_level,
    )
    server.check_can_listen(host, port)  # a busy port fails here with one line, before "serving"
    keys = "; /v1 needs an API key" if settings.api_keys else ""
    typer.echo(f"serving {model} on http://{host}:{port}/ (API docs at /docs{keys})", err=True)
    server.run(settings, options)
