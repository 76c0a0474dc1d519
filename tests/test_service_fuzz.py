"""Property-based fuzzing of the service from its own OpenAPI schema: no input gives a 5xx, and every
answer matches the schema.

The schema is made at import, since ``@schema.parametrize`` needs it then (schemathesis' lazy
``from_fixture`` fails under pytest 9: no ``Function._nodeid``). It comes from ``app.openapi()``
rather than ``from_asgi``, which would start the lifespan before the model directory, a session
fixture, is known; the fixture puts it into the app's settings and then starts the lifespan.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from prodcat.service import Settings, create_app

EXAMPLES_PER_OPERATION = 60  # keeps the whole file well under a minute on two shared cores
FUZZ_LIMITS = {"max_items": 16, "max_text_chars": 2_000, "max_body_bytes": 64_000}

app = create_app(Settings(model=Path("set-by-the-served_model-fixture"), **FUZZ_LIMITS))
schema = schemathesis.openapi.from_dict(app.openapi())
schema.app = app  # what from_asgi sets: cases call the app in process


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
