"""Request limits: body size (a small ASGI middleware, 413) and items / characters per request (422)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prodcat.errors import ProdcatError
from prodcat.service.settings import Settings


class LimitError(ProdcatError, ValueError):
    """A request is over one of the service's limits."""


def body_too_large_message(max_body_bytes: int) -> str:
    return (
        f"the request body is larger than the limit of {max_body_bytes:,} bytes (max_body_bytes, "
        f"prodcat serve --max-body-bytes); send fewer or shorter items per request"
    )


class BodySizeLimit:
    """Answers 413 when a request body is over ``max_body_bytes``, judged from Content-Length and
    while reading (for chunked bodies); otherwise hands the buffered body on unchanged. A client that
    leaves before its body is complete gets no answer (its request is not handled)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._reject(scope, receive, send)
            return
        try:
            body = await _read_body(receive, self.max_body_bytes)
        except _ClientLeft:
            return
        if body is None:
            await self._reject(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": body_too_large_message(self.max_body_bytes)}, status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _ClientLeft(Exception):
    """The client disconnected before sending its whole body."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it grows past ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientLeft
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def check_item_limits(texts: Sequence[str], settings: Settings) -> None:
    """``LimitError`` naming the limit and its value when there are too many items or a text is too long."""
    if len(texts) > settings.max_items:
        raise LimitError(
            f"{len(texts):,} items in one request; the limit is {settings.max_items:,} items per request "
            f"(max_items, prodcat serve --max-items); split them into several requests"
        )
    for index, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise LimitError(
                f"items[{index}] has {len(text):,} characters; the limit is {settings.max_text_chars:,} characters "
                f"per text (max_text_chars, prodcat serve --max-text-chars); shorten it"
            )
