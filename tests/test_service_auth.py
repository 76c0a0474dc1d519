"""Optional API keys: with keys, the /v1 API needs ``Authorization: Bearer <key>``; health, the page and
the docs stay open; the keys come from a file or ``PRODCAT_API_KEYS`` and are checked when read."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from prodcat.errors import ProdcatError
from prodcat.service import Settings, create_app
from prodcat.service.auth import configured_api_keys, key_matches

KEYS = ("k-0123456789abcdef-first", "k-0123456789abcdef-second")
ITEMS = {"items": [{"id": "sku-1", "text": "usb cable"}]}


@pytest.fixture(scope="module")
def client(linear_model_dir):
    with TestClient(create_app(Settings(model=linear_model_dir, api_keys=KEYS))) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("headers", [{}, bearer("k-0123456789abcdef-third"), bearer(KEYS[0][:-1]), {"Authorization": f"Basic {KEYS[0]}"}, {"Authorization": KEYS[0]}])
def test_the_api_without_a_valid_bearer_key_is_a_401(client, headers):
    for response in (client.post("/v1/categorize", json=ITEMS, headers=headers), client.get("/v1/model", headers=headers)):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "API key" in response.json()["detail"]


def test_an_unauthenticated_request_is_refused_before_its_body_is_judged(client):
    response = client.post("/v1/categorize", json={"items": [{"colour": "red"}]})
    assert response.status_code == 401


@pytest.mark.parametrize("key", KEYS)
def test_each_key_opens_the_api(client, key):
    response = client.post("/v1/categorize", json=ITEMS, headers=bearer(key))
    assert response.status_code == 200 and response.json()["items"][0]["id"] == "sku-1"
    assert client.get("/v1/model", headers=bearer(key)).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/", "/static/app.js", "/docs", "/openapi.json"])
def test_health_the_page_and_the_docs_stay_open(client, path):
    assert client.get(path).status_code == 200


def test_openapi_declares_the_bearer_scheme_on_the_api_only_when_keys_are_set(client, linear_model_dir):
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["api_key"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer" and "PRODCAT_API_KEYS" in scheme["description"]
    for path, method in [("/v1/categorize", "post"), ("/v1/model", "get")]:
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"api_key": []}] and "401" in operation["responses"]
    assert "security" not in schema["paths"]["/healthz"]["get"]
    open_schema = create_app(Settings(model=linear_model_dir)).openapi()
    assert "securitySchemes" not in open_schema.get("components", {})
    assert "security" not in open_schema["paths"]["/v1/categorize"]["post"]


def test_every_key_is_compared_in_constant_time_every_time(monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((len(a), len(b))) or real(a, b))
    assert key_matches(KEYS[0], KEYS) and not key_matches("short", KEYS)
    assert calls == [(32, 32)] * 4  # digests of equal length; no early exit on the first match


def test_keys_are_read_from_a_file_or_the_environment(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"# service keys\n\n  {KEYS[0]}  \n{KEYS[1]}\n")
    assert configured_api_keys(key_file, environ={}) == KEYS
    assert configured_api_keys(None, environ={"PRODCAT_API_KEYS": f" {KEYS[0]}, {KEYS[1]} "}) == KEYS
    assert configured_api_keys(None, environ={}) == ()
    with pytest.raises(ProdcatError, match="both --api-key-file and PRODCAT_API_KEYS"):
        configured_api_keys(key_file, environ={"PRODCAT_API_KEYS": KEYS[0]})
    (tmp_path / "empty").write_text("# none yet\n")
    with pytest.raises(ProdcatError, match="holds no API key"):
        configured_api_keys(tmp_path / "empty", environ={})
    with pytest.raises(ProdcatError, match="does not exist"):
        configured_api_keys(tmp_path / "missing", environ={})


@pytest.mark.parametrize("key, problem", [("tiny-key", "shorter than 16"), ("k-0123456789abcdef é", "printable ASCII"), ("k-0123456789,abcdef", "comma")])
def test_weak_or_unsendable_keys_are_refused_without_showing_them(linear_model_dir, key, problem):
    with pytest.raises(ProdcatError, match=problem) as caught:
        Settings(model=linear_model_dir, api_keys=(KEYS[0], key))
    assert "API key 2" in str(caught.value) and key not in str(caught.value)


def test_keys_travel_to_workers_and_stay_out_of_the_repr(linear_model_dir):
    settings = Settings(model=linear_model_dir, api_keys=KEYS)
    assert Settings.from_env(settings.to_env()) == settings
    assert KEYS[0] not in repr(settings)


def test_serve_refuses_a_key_file_without_keys_in_one_line(linear_model_dir, tmp_path):
    (tmp_path / "keys").write_text("\n")
    command = [sys.executable, "-m", "prodcat", "serve", "--model", str(linear_model_dir), "--api-key-file", str(tmp_path / "keys")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'keys'} holds no API key; put one key per line"]
