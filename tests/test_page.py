"""End to end: the real server (``python -m prodcat serve``), its page at ``/`` and its API docs at
``/docs`` in headless Chromium, with and without API keys."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from test_service_server import serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TITLE = "Sony WH-1000XM4 wireless noise cancelling headphones"
DESCRIPTION = "Bluetooth over-ear headphones with 30 hours of battery"


@pytest.fixture(scope="module")
def base_url(linear_model_dir):
    with serving(linear_model_dir) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    """A new tab at ``url`` that records every URL it requests (``page.requested_urls``)."""
    page = browser.new_page()
    page.requested_urls = []
    page.on("request", lambda request: page.requested_urls.append(request.url))
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def page(browser, base_url):
    page = open_page(browser, base_url + "/")
    yield page
    page.close()


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


def test_the_api_docs_render_from_the_server_alone(browser, base_url):
    docs = open_page(browser, base_url + "/docs")
    schema = httpx.get(f"{base_url}/openapi.json").json()
    operations = [(method.upper(), path) for path, methods in schema["paths"].items() for method in methods]
    expect(docs.locator(".opblock")).to_have_count(len(operations))
    expect(docs.locator(".opblock-summary-path").filter(has_text="/v1/categorize")).to_have_count(1)
    assert all(url.startswith(base_url) for url in docs.requested_urls), docs.requested_urls
    docs.close()


def test_with_api_keys_the_page_asks_for_one_and_then_works(browser, linear_model_dir, tmp_path):
    key = "k-page-test-0123456789abcdef"
    (tmp_path / "keys").write_text(key + "\n")
    with serving(linear_model_dir, "--api-key-file", str(tmp_path / "keys")) as url:
        page = open_page(browser, url + "/")
        expect(page.locator("#key-form")).to_be_visible()
        expect(page.locator("#model")).to_contain_text("API key")
        page.fill("#api-key", key)
        page.click("#use-key")
        expect(page.locator("#key-form")).to_be_hidden()
        expect(page.locator("#model")).to_contain_text(httpx.get(f"{url}/v1/model", headers={"Authorization": f"Bearer {key}"}).json()["name"])
        page.fill("#title", TITLE)
        page.click("#categorize")
        expect(page.locator("#categories li")).to_have_count(3)
        page.close()
