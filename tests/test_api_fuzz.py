"""The REST API against its own OpenAPI schema (schemathesis): generated requests to every route,
with and without the token, never get a 5xx or a traceback, and a rejected submission writes
nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from nas.api import create_app
from nas.store import Store

TOKEN = "fuzz-token"
_ROOT = Path(tempfile.mkdtemp(prefix="nas-api-fuzz-"))
STORE = Store(f"sqlite:///{_ROOT / 'nas.db'}")
APP = create_app(STORE, TOKEN, _ROOT / "exports", _ROOT / "data")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case: schemathesis.Case) -> None:
    jobs_before = len(STORE.list_jobs())
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    assert "Traceback" not in response.text and "\x1b[" not in response.text
    if case.method == "POST" and case.path == "/jobs" and response.status_code != 201:
        assert len(STORE.list_jobs()) == jobs_before  # nothing written for a rejected spec
    if case.path != "/health":
        anonymous = case.call(headers={})
        assert anonymous.status_code == 401, f"{case.method} {case.formatted_path} without a token: {anonymous.status_code}"
