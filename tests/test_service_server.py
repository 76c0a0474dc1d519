"""The real server (``python -m prodcat serve``) against slow and greedy clients, on raw sockets: the
read deadline, the keep-alive timeout, the concurrency limit, and a busy port.

``serving`` starts a server and waits until it is ready; test_page.py uses it too.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

READY_TIMEOUT_S = 60
TIMEOUT_READ_S = 1.0
TIMEOUT_KEEP_ALIVE_S = 1
LIMIT_CONCURRENCY = 8
SLOW_CLIENTS = 100
MARGIN_S = 2.0  # how much later than a deadline the server may act on a loaded machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base_url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}: {server.stderr.read()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url}/readyz did not answer 200 within {READY_TIMEOUT_S} s")


def serve_command(model_dir: Path, port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "prodcat", "serve", "--model", str(model_dir), "--port", str(port), "--log-level", "warning", *options]


@contextmanager
def serving(model_dir: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """The base URL of a server of ``model_dir`` started with ``options``, stopped afterwards."""
    port = free_port()
    server = subprocess.Popen(serve_command(model_dir, port, *options), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=None if env is None else {**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def address(linear_model_dir) -> Iterator[tuple[str, int]]:
    options = ["--timeout-read", str(TIMEOUT_READ_S), "--timeout-keep-alive", str(TIMEOUT_KEEP_ALIVE_S), "--limit-concurrency", str(LIMIT_CONCURRENCY)]
    with serving(linear_model_dir, *options) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=TIMEOUT_READ_S + MARGIN_S)


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (``socket.timeout`` if it does not)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def healthz_seconds(address: tuple[str, int]) -> float:
    started = time.perf_counter()
    response = httpx.get(f"http://{address[0]}:{address[1]}/healthz", timeout=10)
    assert response.status_code == 200
    return time.perf_counter() - started


def test_headers_that_never_finish_get_a_408_and_the_connection_closes(address):
    with connect(address) as sock:
        sock.sendall(b"POST /v1/categorize HTTP/1.1\r\nHost: prodcat\r\nContent-Type: appl")
        started = time.monotonic()
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"--timeout-read" in answer
    assert TIMEOUT_READ_S - 0.2 < time.monotonic() - started < TIMEOUT_READ_S + MARGIN_S


def test_a_body_that_never_finishes_is_disconnected(address):
    with connect(address) as sock:
        sock.sendall(b"POST /v1/categorize HTTP/1.1\r\nHost: prodcat\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"items\": [")
        started = time.monotonic()
        assert read_until_closed(sock) == b""
    assert time.monotonic() - started < TIMEOUT_READ_S + MARGIN_S


def test_a_client_sending_a_byte_at_a_time_is_cut_off_at_the_deadline(address):
    request = itertools.chain(b"POST /v1/categorize HTTP/1.1\r\nHost: prodcat\r\nX-Padding: ", itertools.repeat(ord("a")))
    with connect(address) as sock:
        sock.settimeout(0.05)
        started = time.monotonic()
        for byte in request:
            assert time.monotonic() - started < TIMEOUT_READ_S + MARGIN_S, "the server still reads a request past its deadline"
            try:
                sock.sendall(bytes([byte]))
                answer = sock.recv(65536)  # the 408, or b"" once closed
                break
            except TimeoutError:  # nothing from the server yet
                continue
            except OSError:  # reset by the server
                answer = b""
                break
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started > TIMEOUT_READ_S - 0.2


def test_many_slow_clients_are_let_go_and_do_not_slow_the_others(address):
    alone = min(healthz_seconds(address) for _ in range(5))
    slow = []
    try:
        for index in range(SLOW_CLIENTS):
            sock = connect(address)
            sock.sendall(b"POST /v1/categorize HTTP/1.1\r\nHost: prodcat\r\nContent-Length: 50\r\n\r\n{" if index % 2 else b"GET /healthz HTTP/1.1\r\n")
            slow.append(sock)
        time.sleep(TIMEOUT_READ_S + 0.5)
        closed = 0
        for sock in slow:
            try:
                read_until_closed(sock)
                closed += 1
            except TimeoutError:
                pass
        assert closed == SLOW_CLIENTS
        assert min(healthz_seconds(address) for _ in range(5)) < max(0.5, 20 * alone)
    finally:
        for sock in slow:
            sock.close()


def test_an_idle_keep_alive_connection_is_closed_after_timeout_keep_alive(address):
    with connect(address) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: prodcat\r\n\r\n")
        started = time.monotonic()
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1") == 1
    assert TIMEOUT_KEEP_ALIVE_S - 0.2 < time.monotonic() - started < TIMEOUT_KEEP_ALIVE_S + MARGIN_S


def healthz_status_soon(address: tuple[str, int], wanted: int) -> int:
    """/healthz's status once it is ``wanted`` (the server notices connections opening and closing
    soon, not at once), or its last status after a few seconds."""
    deadline = time.monotonic() + 5
    while (status := httpx.get(f"http://{address[0]}:{address[1]}/healthz", timeout=5).status_code) != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
    return status


def test_past_the_concurrency_limit_requests_get_503_until_connections_close(address):
    held = [connect(address) for _ in range(LIMIT_CONCURRENCY)]
    try:
        assert healthz_status_soon(address, 503) == 503
    finally:
        for sock in held:
            sock.close()
    assert healthz_status_soon(address, 200) == 200


def test_a_busy_port_is_one_line_and_exit_2_before_serving(linear_model_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(serve_command(linear_model_dir, port), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and not result.stdout
    assert lines[0].startswith("error: ") and f"port {port} is already in use" in lines[0] and "--port" in lines[0]
