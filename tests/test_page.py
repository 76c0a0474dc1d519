"""End to end: the real server (``python -m prodcat serve``) and its page at ``/`` in headless Chromium."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY_TIMEOUT_S = 60
TITLE = "Sony WH-1000XM4 wireless noise cancelling headphones"
DESCRIPTION = "Bluetooth over-ear headphones with 30 hours of battery"


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


@pytest.fixture(scope="module")
def base_url(linear_model_dir):
    port = free_port()
    command = [sys.executable, "-m", "prodcat", "serve", "--model", str(linear_model_dir), "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def page(base_url):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.requested_urls = []
        page.on("request", lambda request: page.requested_urls.append(request.url))
        page.goto(base_url + "/")
        yield page
        browser.close()


def test_the_page_shows_the_model_and_its_labels(page, base_url):
    model = httpx.get(f"{base_url}/v1/model").json()
    expect(page.locator("#model")).to_contain_text(model["name"])
    expect(page.locator("#labels li")).to_have_count(len(model["labels"]))
    expect(page.locator("#labels li").first).to_have_text(model["labels"][0])


def test_categorizing_a_title_shows_categories_bars_and_review_state(page, base_url):
    page.fill("#title", TITLE)
    page.fill("#description", DESCRIPTION)
    page.select_option("#top-k", "3")
    page.click("#categorize")
    rows = page.locator("#categories li")
    expect(rows).to_have_count(3)

    answer = httpx.post(f"{base_url}/v1/categorize", json={"items": [{"title": TITLE, "description": DESCRIPTION}], "top_k": 3}).json()
    (item,) = answer["items"]
    expect(rows.first.locator(".name")).to_have_text(item["category"])
    expect(rows.first.locator(".value")).to_have_text(f"{100 * item['confidence']:.1f}%")
    widths = [rows.nth(i).locator(".fill").evaluate("e => e.getBoundingClientRect().width") for i in range(3)]
    assert widths[0] > 0 and widths == sorted(widths, reverse=True)
    expected_state = "Needs review" if item["needs_review"] else "Automatic"
    expect(page.locator("#review")).to_contain_text(expected_state)


def test_an_empty_form_shows_the_reason_instead_of_a_category(page):
    page.fill("#title", "")
    page.fill("#description", "")
    page.click("#categorize")
    expect(page.locator("#review")).to_contain_text("No category")
    expect(page.locator("#categories li")).to_have_count(0)


def test_the_page_loads_nothing_from_outside_the_server(page, base_url):
    assert page.requested_urls
    assert all(url.startswith(base_url) for url in page.requested_urls), page.requested_urls
