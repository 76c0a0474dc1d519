"""Running the app under uvicorn, with the connection limits a service on a network needs.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``), answers 503 past
``limit_concurrency`` connections or requests at once, and h11 refuses headers over 16 KiB; nothing
in them bounds how long a client may take to send a request, so a connection that never finishes its
headers or its body would be held forever. ``ReadDeadlineProtocol`` adds that deadline.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from prodcat.errors import ProdcatError
from prodcat.service.settings import DEFAULT_LIMIT_CONCURRENCY, DEFAULT_TIMEOUT_KEEP_ALIVE, DEFAULT_TIMEOUT_READ, Settings


class ListenError(ProdcatError, OSError):
    """The service cannot listen on the address and port it was given."""


@dataclass(frozen=True)
class ServerOptions:
    """Where to listen, how many worker processes, and the per-connection limits (per worker)."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    timeout_read: float = DEFAULT_TIMEOUT_READ
    timeout_keep_alive: int = DEFAULT_TIMEOUT_KEEP_ALIVE
    limit_concurrency: int = DEFAULT_LIMIT_CONCURRENCY
    log_level: str = "info"


class ReadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a read deadline: from the moment a connection opens, or its
    previous response is sent, the client has ``timeout_read`` seconds to send a whole request.
    One that has begun but not finished its headers by then gets 408 and the connection closes; one
    that has sent nothing is closed quietly (as uvicorn closes idle keep-alive connections); one still
    sending its body is disconnected (the app sees the client leave)."""

    def __init__(self, *args, timeout_read: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_read = timeout_read
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_deadline()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._start_read_deadline()  # first: super() may go straight on to a pipelined request
        super().on_response_complete()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):  # the whole request is in
            self._stop_read_deadline()

    def _start_read_deadline(self) -> None:
        self._stop_read_deadline()
        self._read_deadline = self.loop.call_later(self.timeout_read, self._read_timed_out)

    def _stop_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        headers_begun = self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE and self.conn.trailing_data[0]
        if headers_begun:
            body = f"the request did not arrive within {self.timeout_read:g} seconds (prodcat serve --timeout-read)\n".encode()
            head = f"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
            self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def check_can_listen(host: str, port: int) -> None:
    """``ListenError`` unless every address ``host`` stands for can be bound at ``port`` now (the way
    asyncio binds them for uvicorn: SO_REUSEADDR, IPv6 sockets IPv6 only)."""
    try:
        addresses = {info[:3] + (info[4],) for info in socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)}
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}; pass --host with a name or address of this machine") from None
    for family, kind, proto, address in sorted(addresses, key=str):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise ListenError(f"cannot listen on {host}:{port}: {_why(exc, port)}") from None


def _why(exc: OSError, port: int) -> str:
    import errno

    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use; stop the program that uses it or pass another --port"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges); pass --port 1024 or above"
    return f"{exc.strerror or exc}; check --host and --port"


def run(settings: Settings, options: ServerOptions) -> None:
    """Serve ``settings.model`` under uvicorn until interrupted."""
    import uvicorn

    common = {
        "host": options.host,
        "port": options.port,
        "log_level": options.log_level,
        "http": functools.partial(ReadDeadlineProtocol, timeout_read=options.timeout_read),
        "timeout_keep_alive": options.timeout_keep_alive,
        "limit_concurrency": options.limit_concurrency,
    }
    if options.workers == 1:
        from prodcat.service.app import create_app

        uvicorn.run(create_app(settings), **common)
        return
    os.environ.update(settings.to_env())  # the worker processes read their settings from here
    uvicorn.run("prodcat.service.app:app_from_env", factory=True, workers=options.workers, **common)
