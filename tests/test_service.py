"""The HTTP service through FastAPI's TestClient (as a context manager, so the model loads in lifespan)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from prodcat.categorizer import EMPTY_TEXT_REASON, Categorizer
from prodcat.service import Settings, create_app

SMALL_LIMITS = {"max_items": 3, "max_text_chars": 200, "max_body_bytes": 4_000}


@pytest.fixture(scope="module")
def client(linear_model_dir):
    with TestClient(create_app(Settings(model=linear_model_dir))) as client:
        yield client


@pytest.fixture(scope="module")
def limited(linear_model_dir):
    with TestClient(create_app(Settings(model=linear_model_dir, **SMALL_LIMITS))) as client:
        yield client


@pytest.fixture(scope="module")
def categorizer(linear_model_dir):
    return Categorizer.load(linear_model_dir)


def categorize(client, items, **extra):
    return client.post("/v1/categorize", json={"items": items, **extra})


# -- the contract ---------------------------------------------------------------------------------
def test_categorize_returns_every_field_per_item_and_the_model_once(client, categorizer):
    response = categorize(client, [{"id": "sku-1", "text": "Sony wireless bluetooth headphones"}], top_k=2)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"model", "items"}
    assert body["model"]["family"] == "linear"
    assert body["model"]["name"] == "linear"
    assert body["model"]["created"]
    (item,) = body["items"]
    assert {"id", "category", "confidence", "top_k", "needs_review", "reason"} <= set(item)
    assert item["id"] == "sku-1"
    expected = categorizer.categorize(["Sony wireless bluetooth headphones"], top_k=2)[0]
    assert item["category"] == expected.category
    assert item["confidence"] == pytest.approx(expected.confidence)
    assert [s["category"] for s in item["top_k"]] == [c for c, _ in expected.top_k]
    assert item["needs_review"] == expected.needs_review
    assert item["reason"] is None


@pytest.mark.parametrize("top_k", [1, 2, 4])
def test_top_k_lists_that_many_categories_best_first(client, top_k):
    (item,) = categorize(client, [{"text": "cotton t-shirt for men"}], top_k=top_k).json()["items"]
    confidences = [s["confidence"] for s in item["top_k"]]
    assert len(confidences) == top_k
    assert confidences == sorted(confidences, reverse=True)
    assert item["top_k"][0]["category"] == item["category"]


def test_top_k_defaults_to_three(client):
    (item,) = categorize(client, [{"text": "stainless steel pressure cooker"}]).json()["items"]
    assert len(item["top_k"]) == 3


def test_review_flag_follows_the_model_threshold(client, categorizer):
    texts = ["Sony wireless bluetooth headphones", "thing", "book novel paperback", "red cotton kurta", "usb cable"]
    items = categorize(client, [{"text": t} for t in texts]).json()["items"]
    threshold = categorizer.describe()["threshold"]
    assert threshold is not None
    for item in items:
        assert item["needs_review"] == (item["confidence"] < threshold)


def test_empty_text_gets_no_category_and_a_reason(client):
    items = categorize(client, [{"id": 7, "text": ""}, {"title": "   "}, {"text": "cotton shirt"}]).json()["items"]
    for item in items[:2]:
        assert item["category"] is None and item["confidence"] is None
        assert item["reason"] == EMPTY_TEXT_REASON
        assert item["needs_review"] is True
    assert items[0]["id"] == 7
    assert items[2]["category"] is not None


def test_title_and_description_are_joined_when_text_is_absent(client, categorizer):
    title, description = "Prestige", "stainless steel pressure cooker 5 litre for the kitchen"
    (item,) = categorize(client, [{"title": title, "description": description}], top_k=3).json()["items"]
    expected = categorizer.categorize([f"{title} \n {description}"], top_k=3)[0]
    assert item["top_k"] == [{"category": c, "confidence": pytest.approx(p)} for c, p in expected.top_k]
    alone = categorize(client, [{"title": title}], top_k=3).json()["items"][0]
    assert alone["confidence"] != pytest.approx(item["confidence"])


def test_text_wins_over_title_and_description(client):
    both = categorize(client, [{"text": "paperback novel", "title": "mens cotton shirt"}]).json()["items"][0]
    text_only = categorize(client, [{"text": "paperback novel"}]).json()["items"][0]
    assert both["top_k"] == text_only["top_k"]


def test_an_item_without_any_text_field_is_a_422(client):
    response = categorize(client, [{"id": "x"}])
    assert response.status_code == 422
    assert "items[0]" in response.json()["detail"] and "title" in response.json()["detail"]


def test_ids_are_echoed_in_order(client):
    ids = ["a", "b", 3, None]
    items = categorize(client, [{"id": i, "text": "usb cable"} for i in ids]).json()["items"]
    assert [item["id"] for item in items] == ids


# -- limits ---------------------------------------------------------------------------------------
def test_too_many_items_is_a_422_naming_the_limit(limited):
    response = categorize(limited, [{"text": "usb cable"}] * 4)
    assert response.status_code == 422
    assert "max_items" in response.json()["detail"] and "3 items" in response.json()["detail"]
    assert categorize(limited, [{"text": "usb cable"}] * 3).status_code == 200


def test_too_long_text_is_a_422_naming_the_limit(limited):
    response = categorize(limited, [{"text": "ok"}, {"title": "a" * 150, "description": "b" * 150}])
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "items[1]" in detail and "max_text_chars" in detail and "200" in detail
    assert categorize(limited, [{"text": "a" * 200}]).status_code == 200


def test_too_large_body_is_a_413_naming_the_limit(limited):
    response = limited.post("/v1/categorize", content=json.dumps({"items": [{"text": "x" * 5_000}]}), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["detail"] and "4,000 bytes" in response.json()["detail"]


def test_too_large_chunked_body_is_a_413(limited):
    chunks = (b'{"items": [' + b'{"text": "usb"},' * 100 for _ in range(5))  # no Content-Length
    response = limited.post("/v1/categorize", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_client_that_leaves_mid_body_is_not_answered():
    import asyncio

    from prodcat.service.limits import BodySizeLimit

    called, sent = [], []
    messages = iter([{"type": "http.request", "body": b'{"items": [', "more_body": True}, {"type": "http.disconnect"}])

    async def app(scope, receive, send):
        called.append(scope)

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    asyncio.run(BodySizeLimit(app, max_body_bytes=100)({"type": "http", "headers": []}, receive, send))
    assert called == [] and sent == []


def test_limits_are_checked_per_settings(client):
    assert categorize(client, [{"text": "usb cable"}] * 4).status_code == 200


def test_the_settings_dependency_can_be_overridden(linear_model_dir):
    from prodcat.service.dependencies import get_settings

    app = create_app(Settings(model=linear_model_dir))
    app.dependency_overrides[get_settings] = lambda: Settings(model=linear_model_dir, max_items=1)
    with TestClient(app) as client:
        response = categorize(client, [{"text": "usb cable"}] * 2)
    assert response.status_code == 422 and "max_items" in response.json()["detail"]


# -- malformed input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"null",
        b"[]",
        b'{"items": null}',
        b'{"items": [null]}',
        b'{"items": [{"text": 5}]}',
        b'{"items": [{"text": "a"}], "top_k": 0}',
        b'{"items": [{"text": "a"}], "top_k": 1e400}',
        b'{"items": [{"text": "a"}], "top_k": 99999999999999999999999999}',
        b'{"items": [{"text": "a"}], "top_k": ' + b"9" * 5000 + b"}",
        b'{"items": [{"text": "a", "colour": "red"}]}',
        b'{"items": [{"text": "\xff\xfe bad utf-8"}]}',
        b"\xff\xfe\x00",
    ],
)
def test_malformed_input_is_a_422_with_a_readable_detail(client, body):
    response = client.post("/v1/categorize", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail


@pytest.mark.parametrize("field", ["id", "text", "title", "description"])
def test_a_lone_surrogate_in_an_item_string_is_a_422_naming_the_field(client, field):
    item = {"text": "usb cable", field: "usb \ud800 cable"}
    body = json.dumps({"items": [item]})  # ensure_ascii: the lone surrogate travels as its escape, \ud800
    response = client.post("/v1/categorize", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(f"items[0].{field}:") and "lone surrogate" in detail and "\\ud800" in detail


def test_invalid_json_says_so(client):
    response = client.post("/v1/categorize", content=b'{"items": [', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]


def test_field_errors_are_listed_with_their_location(client):
    response = client.post("/v1/categorize", json={"items": [{"text": "a"}, {"text": ["b"]}]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:3] == ["items", 1, "text"]
    assert response.json()["detail"].startswith("items[1].text")


# -- health, model, docs, page --------------------------------------------------------------------
def test_healthz_and_readyz_once_loaded(client):
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ready"


def test_readyz_is_503_and_categorize_waits_before_the_model_loads(linear_model_dir):
    client = TestClient(create_app(Settings(model=linear_model_dir)))  # no `with`: lifespan does not run
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    response = categorize(client, [{"text": "usb cable"}])
    assert response.status_code == 503 and "not loaded" in response.json()["detail"]


def test_model_description(client, categorizer):
    body = client.get("/v1/model").json()
    assert body["labels"] == categorizer.labels
    assert body["family"] == "linear"
    assert body["threshold"] == pytest.approx(categorizer.describe()["threshold"])
    assert body["calibration"]["method"]
    assert "accuracy" in json.dumps(body["metrics"])
    assert "path" not in body


def test_openapi_and_docs(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/categorize", "/v1/model", "/healthz", "/readyz"} <= set(schema["paths"])
    assert "413" in schema["paths"]["/v1/categorize"]["post"]["responses"]
    assert client.get("/docs").status_code == 200


def test_page_and_its_files_are_served_without_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="categorize"' in page.text
    for name in ("app.js", "style.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text
    assert "http://" not in page.text and "https://" not in page.text


def test_settings_travel_through_the_environment(linear_model_dir):
    settings = Settings(model=linear_model_dir, max_items=5, max_text_chars=6, max_body_bytes=7)
    assert Settings.from_env(settings.to_env()) == settings


def test_settings_refuse_bad_limits(linear_model_dir):
    from prodcat.errors import ProdcatError

    with pytest.raises(ProdcatError, match="max_items"):
        Settings(model=linear_model_dir, max_items=0)
    with pytest.raises(ProdcatError, match="PRODCAT_MODEL"):
        Settings.from_env({})
    with pytest.raises(ProdcatError, match="PRODCAT_MAX_ITEMS"):
        Settings.from_env({"PRODCAT_MODEL": str(linear_model_dir), "PRODCAT_MAX_ITEMS": "many"})


def test_pages_of_the_given_origins_may_call_the_api_and_no_other(linear_model_dir, client):
    """CORS: a shop's admin page on another origin calls /v1 from the browser, with its API key."""
    shop, stranger = "https://admin.shop.example", "https://evil.example"
    key = "k" * 32
    settings = Settings(model=linear_model_dir, api_keys=(key,), cors_origins=(shop + "/",))
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    with TestClient(create_app(settings)) as cors:
        allowed = cors.options("/v1/categorize", headers={"Origin": shop, **preflight})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == shop
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        refused = cors.options("/v1/categorize", headers={"Origin": stranger, **preflight})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        answer = cors.post("/v1/categorize", json={"items": [{"text": "usb cable"}]},
                           headers={"Origin": shop, "Authorization": f"Bearer {key}"})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == shop
        assert "access-control-allow-origin" not in cors.post("/v1/categorize", json={"items": []}, headers={"Origin": stranger}).headers
    default = categorize(client, [{"text": "usb cable"}])  # without origins: same origin only
    assert "access-control-allow-origin" not in default.headers
    assert client.options("/v1/categorize", headers={"Origin": shop, **preflight}).status_code == 405
    assert Settings.from_env(settings.to_env()) == settings


def test_a_cors_origin_must_be_an_origin(linear_model_dir):
    from prodcat.errors import ProdcatError
    from prodcat.service.settings import configured_cors_origins

    for bad in ("admin.shop.example", "https://shop.example/admin", "https://a.example,https://b.example"):
        with pytest.raises(ProdcatError, match="is not an origin"):
            Settings(model=linear_model_dir, cors_origins=(bad,))
    assert Settings(model=linear_model_dir, cors_origins=("*", "http://localhost:3000")).cors_origins == ("*", "http://localhost:3000")
    environ = {"PRODCAT_CORS_ORIGINS": "https://a.example, https://b.example"}
    assert configured_cors_origins(None, environ) == ("https://a.example", "https://b.example")
    assert configured_cors_origins(["https://c.example"], environ) == ("https://c.example",)


def test_serve_refuses_a_missing_model_directory(tmp_path):
    from typer.testing import CliRunner

    from prodcat.cli.app import app

    result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "missing")])
    assert result.exit_code != 0
    assert "no such model directory" in str(result.exception)


# -- micro-batching -------------------------------------------------------------------------------
def test_concurrent_requests_get_the_answers_of_separate_calls(linear_model_dir, categorizer):
    from concurrent.futures import ThreadPoolExecutor

    from prodcat.service.dependencies import ServedModel

    texts = ["usb cable", "paperback novel", "", "cotton kurta for women", "pressure cooker", "hdmi adapter"] * 10
    served = ServedModel.load(Settings(model=linear_model_dir))
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: served.categorize(texts[i : i + 3], top_k=1 + i % 4), range(len(texts) - 2)))
    finally:
        served.close()
    for i, answer in enumerate(answers):
        assert answer == categorizer.categorize(texts[i : i + 3], top_k=1 + i % 4)


def test_a_failing_request_does_not_fail_the_requests_batched_with_it():
    import threading

    from prodcat.categorizer import Prediction
    from prodcat.service.batching import MicroBatcher

    release = threading.Event()

    def predict(texts, top_k):
        release.wait(5)
        if "bad" in texts:
            raise ValueError("bad text")
        return [Prediction(t, 1.0, False, [(t, 1.0)]) for t in texts]

    batcher = MicroBatcher(predict)
    results = {}

    def call(name, texts):
        try:
            results[name] = batcher.categorize(texts, top_k=1)
        except ValueError as exc:
            results[name] = exc

    threads = [threading.Thread(target=call, args=(name, texts)) for name, texts in [("a", ["x"]), ("b", ["bad"]), ("c", ["y", "z"])]]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)
    batcher.close()
    assert [p.category for p in results["a"]] == ["x"]
    assert isinstance(results["b"], ValueError)
    assert [p.category for p in results["c"]] == ["y", "z"]


def test_a_model_of_category_paths_answers_with_path_depth_and_level_thresholds(tmp_path):
    from conftest import TINY_LINEAR
    from prodcat.training import train
    from test_hierarchy import GARLIC_OIL, LABEL_COLS, unseen_texts, write_bigbasket_sample

    out = tmp_path / "tree-model"
    train(
        write_bigbasket_sample(tmp_path / "bigbasket.csv", rows=1500), out=out, family="linear", params=TINY_LINEAR,
        text_cols="product", label_cols=LABEL_COLS, drop_rare_labels=True, log_dir=None, verbose=0,
    )
    tree_model = Categorizer.load(out)
    texts = [GARLIC_OIL, *unseen_texts()[:20], ""]
    with TestClient(create_app(Settings(model=out))) as tree_client:
        response = categorize(tree_client, [{"id": i, "text": t} for i, t in enumerate(texts)], top_k=2)
        description = tree_client.get("/v1/model").json()
    assert response.status_code == 200
    items = response.json()["items"]
    for item, expected in zip(items, tree_model.categorize(texts, top_k=2)):
        assert item["category"] == expected.category and item["needs_review"] == expected.needs_review
        assert item["depth"] == expected.depth and item["path"] == expected.path
        assert item["path_confidence"] == (pytest.approx(expected.path_confidence) if expected.path else None)
    assert all(len(item["path"]) == 3 and item["category"] in item["path"] for item in items[:-1])
    assert items[-1]["path"] is None and items[-1]["reason"] == EMPTY_TEXT_REASON
    assert description["level_thresholds"] == pytest.approx(tree_model.level_thresholds_)
    assert description["hierarchy"]["depth"] == 3
