"""Property-based fuzzing of the service from its own OpenAPI schema: no input gives a 5xx, and every
answer matches the schema. Besides what schemathesis generates, the items' strings (the echoed ``id``
and the texts) sometimes hold lone surrogates, sent as JSON escapes (``"\\ud800"``): valid JSON that
is no valid Unicode, which hypothesis' text strategies leave out.

The schema is made at import, since ``@schema.parametrize`` needs it then (schemathesis' lazy
``from_fixture`` fails under pytest 9: no ``Function._nodeid``). It comes from ``app.openapi()``
rather than ``from_asgi``, which would start the lifespan before the model directory, a session
fixture, is known; the fixture puts it into the app's settings and then starts the lifespan.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance

from prodcat.service import Settings, create_app

EXAMPLES_PER_OPERATION = 60  # keeps the whole file well under a minute on two shared cores
FUZZ_LIMITS = {"max_items": 16, "max_text_chars": 2_000, "max_body_bytes": 64_000}

app = create_app(Settings(model=Path("set-by-the-served_model-fixture"), **FUZZ_LIMITS))
schema = schemathesis.openapi.from_dict(app.openapi())
schema.app = app  # what from_asgi sets: cases call the app in process

ITEM_STRINGS = ("id", "title", "description", "text")
WITH_A_LONE_SURROGATE = st.tuples(st.text(max_size=4), st.characters(categories=["Cs"]), st.text(max_size=4)).map("".join)


@schema.hook
def flatmap_body(context, body):
    """Up to three strings of the body's items replaced by strings with a lone surrogate, and in half
    of the bodies a text for every item that has none (so that more bodies pass the "text, title or
    description" rule and get answered, echoed ids included)."""
    items = body.get("items") if isinstance(body, dict) else None
    if not items or not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return st.just(body)
    edits = st.lists(st.tuples(st.integers(0, len(items) - 1), st.sampled_from(ITEM_STRINGS), WITH_A_LONE_SURROGATE), max_size=3)
    return st.tuples(st.booleans(), edits).map(lambda drawn: _edited(body, *drawn))


def _edited(body: dict, give_every_item_a_text: bool, edits: list[tuple[int, str, str]]) -> dict:
    body = copy.deepcopy(body)
    if give_every_item_a_text:
        for item in body["items"]:
            if all(item.get(name) is None for name in ITEM_STRINGS[1:]):
                item["text"] = "usb cable"
    for index, name, value in edits:
        body["items"][index][name] = value
    return body


@pytest.fixture(scope="module", autouse=True)
def served_model(linear_model_dir):
    app.state.settings = Settings(model=linear_model_dir, **FUZZ_LIMITS)
    with TestClient(app):  # runs the lifespan (schemathesis 4 also starts one of its own on its first call)
        yield


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    # Schema-valid bodies may still be refused with a 422: the limits are settings and "text, title or
    # description" is a rule, neither is in the schema; every other check (schema of the answer,
    # status codes, content type, refusing invalid data) applies.
    case.validate_response(response, excluded_checks=[positive_data_acceptance])


ANY_STRING = st.text(max_size=12) | WITH_A_LONE_SURROGATE
VALID_ITEM = st.fixed_dictionaries({"text": ANY_STRING}, optional={"id": ANY_STRING | st.integers(), "title": ANY_STRING, "description": ANY_STRING})


def _has_a_lone_surrogate(item: dict) -> bool:
    return any(isinstance(value, str) and any("\ud800" <= char <= "\udfff" for char in value) for value in item.values())


@pytest.fixture(scope="module")
def client(linear_model_dir):
    """An app of its own: schemathesis' lifespan unloads the shared app's model when it ends."""
    with TestClient(create_app(Settings(model=linear_model_dir, **FUZZ_LIMITS))) as client:
        yield client


@given(items=st.lists(VALID_ITEM, min_size=1, max_size=4))
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_ids_and_texts_with_any_characters_are_echoed_or_refused_with_a_422(client, items):
    body = json.dumps({"items": items})  # ensure_ascii: a lone surrogate travels as its escape
    response = client.post("/v1/categorize", content=body, headers={"content-type": "application/json"})
    if any(_has_a_lone_surrogate(item) for item in items):
        assert response.status_code == 422, response.text[:300]
        assert "lone surrogate" in response.json()["detail"]
    else:
        assert response.status_code == 200, response.text[:300]
        assert [result["id"] for result in response.json()["items"]] == [item.get("id") for item in items]
