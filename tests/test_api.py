"""The REST API and the service operations behind it: auth, job submission (every spec problem by
field path, nothing written), cancel, Pareto fronts (against brute force, with constraints),
export errors and an export through the API, the OpenAPI schema, the Pareto plot."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nas import service
from nas.api import create_app, serve
from nas.clock import SYSTEM_CLOCK, Clock
from nas.results.front import verification_choice
from nas.store import Store
from tests.helpers import API_AUTH as AUTH
from tests.helpers import API_TOKEN as TOKEN
from tests.helpers import BENCH_SPEC, DIGITS_SPEC, EXAMPLES, ManualClock, cli, trained_job, verdict_job


@dataclass
class Api:
    store: Store
    client: TestClient  # sends the token
    anonymous: TestClient  # sends none
    export_root: Path
    data_root: Path


@contextmanager
def make_api(url: str, tmp_path: Path, clock: Clock = SYSTEM_CLOCK) -> Iterator[Api]:
    store = Store(url, clock=clock)
    app = create_app(store, TOKEN, tmp_path / "exports", tmp_path / "data")
    with TestClient(app, headers=AUTH) as client, TestClient(app) as anonymous:
        yield Api(store, client, anonymous, tmp_path / "exports", tmp_path / "data")
    store.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with make_api(f"sqlite:///{tmp_path / 'nas.db'}", tmp_path) as made:
        yield made


def add_done(store: Store, job_id: int, metrics: Sequence[dict[str, float]], tag: str = "") -> list[int]:
    """Done candidates with these metrics; returns their numbers in the job."""
    records = store.add_candidates(job_id, [(f"arch-{tag}{job_id}-{i}", {"i": i}) for i in range(len(metrics))])
    for record, values in zip(records, metrics):
        store.start_candidate(record.id, "test")
        store.record_result(record.id, values)
    return [r.seq for r in records]


def brute_force_front(points: dict[int, dict[str, float]], objectives: Sequence[tuple[str, bool]]) -> set[int]:
    def no_worse(a: dict[str, float], b: dict[str, float]) -> bool:
        return all(a[m] >= b[m] if up else a[m] <= b[m] for m, up in objectives)

    def dominates(a: dict[str, float], b: dict[str, float]) -> bool:
        return no_worse(a, b) and any(a[m] != b[m] for m, _ in objectives)

    return {i for i, p in points.items() if not any(dominates(q, p) for j, q in points.items() if j != i)}


def random_metrics(rng: random.Random, n: int) -> list[dict[str, float]]:
    # Accuracy grows with size, with noise, so fronts have many members; coarse values make ties
    # and exact copies common, as in real fronts.
    rows = []
    for _ in range(n):
        params = rng.randrange(4_500_000, 15_000_000, 500_000)
        accuracy = round(0.5 + 0.4 * (params - 4_500_000) / 10_500_000 + rng.uniform(-0.08, 0.08), 2)
        rows.append({"accuracy": accuracy, "params": params, "flops": rng.randint(1, 5) * 1e8})
    return rows


# ---- auth, health, schema ----


def test_auth_required_everywhere_but_health(api: Api) -> None:
    assert api.anonymous.get("/health").json() == {"status": "ok", "coordinators": 0, "jobs": {"queued": 0, "running": 0}}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}".encode()}, {"Authorization": "Bearer"}):
        for method, path in (("get", "/jobs"), ("get", "/jobs/1"), ("post", "/jobs"), ("post", "/jobs/1/cancel"), ("get", "/jobs/1/candidates")):
            response = api.anonymous.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (headers, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert api.store.list_jobs() == []  # the unauthorised POSTs wrote nothing
    assert api.client.get("/jobs").status_code == 200


def test_a_queued_job_says_when_no_coordinator_will_run_it(api: Api) -> None:
    job = api.client.post("/jobs", json=BENCH_SPEC).json()
    assert job["status"] == "queued" and "no coordinator is running" in job["waiting"] and "nas coordinator" in job["waiting"]
    assert api.anonymous.get("/health").json() == {"status": "ok", "coordinators": 0, "jobs": {"queued": 1, "running": 0}}
    api.store.coordinator_beat("coordinator-1")  # as a running coordinator does every few seconds
    assert api.client.get(f"/jobs/{job['id']}").json()["waiting"] is None
    assert [row["waiting"] for row in api.client.get("/jobs").json()] == [None]
    assert api.anonymous.get("/health").json()["coordinators"] == 1
    api.store.claim_job("coordinator-1")
    assert api.anonymous.get("/health").json()["jobs"] == {"queued": 0, "running": 1}
    api.store.coordinator_gone("coordinator-1")
    assert api.client.get(f"/jobs/{job['id']}").json()["waiting"] is None  # it beat when it claimed the job


def test_a_running_job_says_when_its_coordinator_fell_silent(tmp_path: Path, clock: ManualClock) -> None:
    with make_api(f"sqlite:///{tmp_path / 'nas.db'}", tmp_path, clock) as api:
        job = api.client.post("/jobs", json=BENCH_SPEC).json()
        api.store.claim_job("coordinator-1")
        clock.advance(service.SILENT_AFTER_S)
        assert api.client.get(f"/jobs/{job['id']}").json()["waiting"] is None  # silent, but not for longer than it beats
        clock.advance(1)
        waiting = api.client.get(f"/jobs/{job['id']}").json()["waiting"]
        assert waiting.startswith(f"its coordinator (coordinator-1) has not reported for {service.SILENT_AFTER_S + 1:.0f} s") and "--stale-after (default 120 s)" in waiting
        assert api.client.get(f"/jobs/{job['id']}").json()["eta"] is None  # no pace to tell while nothing runs it
        api.store.finish_job(job["id"], "cancelled", worker="coordinator-1")
        assert api.client.get(f"/jobs/{job['id']}").json()["waiting"] is None  # a finished job waits for nothing


def test_app_and_server_refuse_to_run_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    with pytest.raises(ValueError, match="token: required"):
        create_app(store, "", tmp_path)
    monkeypatch.delenv("NAS_API_TOKEN", raising=False)
    with pytest.raises(ValueError, match="NAS_API_TOKEN"):
        serve(f"sqlite:///{tmp_path / 'nas.db'}", "127.0.0.1", 0, None, tmp_path / "exports")


def test_openapi_lists_endpoints_and_bearer_scheme(api: Api) -> None:
    schema = api.anonymous.get("/openapi.json").json()
    expected = {
        "/health": {"get"}, "/jobs": {"get", "post"}, "/jobs/{job_id}": {"get", "delete"}, "/jobs/{job_id}/cancel": {"post"},
        "/me": {"get"}, "/jobs/{job_id}/candidates": {"get"}, "/jobs/{job_id}/candidates/{candidate}": {"get"}, "/jobs/{job_id}/events": {"get"},
        "/jobs/{job_id}/analysis": {"get"}, "/jobs/{job_id}/references": {"get"}, "/jobs/{job_id}/pareto": {"get"}, "/jobs/{job_id}/export": {"post"}, "/artifacts/{artifact_id}": {"get"}, "/datasets": {"get", "post"}, "/datasets/{dataset_id}": {"get", "delete"},
    }  # fmt: skip
    assert {path: set(ops) for path, ops in schema["paths"].items()} == expected
    bearer = schema["components"]["securitySchemes"]["HTTPBearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    for path, ops in expected.items():
        for op in ops:
            secured = schema["paths"][path][op].get("security") == [{"HTTPBearer": []}]
            assert secured == (path != "/health"), (path, op)
    export_body = schema["components"]["schemas"]["ExportRequest"]
    assert export_body["additionalProperties"] is False
    assert export_body["properties"]["format"]["enum"] == ["pytorch", "torchscript", "onnx"]

    # The spec body is typed: the JobSpec model with its fields, enums and defaults, in JSON or YAML.
    body = schema["paths"]["/jobs"]["post"]["requestBody"]["content"]
    assert set(body) >= {"application/json", "application/yaml"}
    assert body["application/json"]["schema"] == body["application/yaml"]["schema"] == {"$ref": "#/components/schemas/JobSpec"}
    spec = schema["components"]["schemas"]["JobSpec"]
    assert set(spec["required"]) == {"name", "space", "task"} and spec["additionalProperties"] is False
    assert spec["properties"]["space"]["enum"] == ["flexibert", "vit-resnas"]
    assert spec["properties"]["strategy"]["default"] == "boshnas" and "tpe" in spec["properties"]["strategy"]["enum"]
    task_forms = spec["properties"]["task"]["anyOf"]
    assert "digits" in task_forms[0]["enum"] and task_forms[1] == {"$ref": "#/components/schemas/TaskSpec"}
    for name in ("Budget", "ObjectiveSpec", "SupernetSpec", "TaskSpec", "VerifySpec"):  # every model it refers to is there
        assert schema["components"]["schemas"][name]["type"] == "object", name

    # Every answer is typed: each route's success response has a schema (nas.read_models), or is a file.
    for path, ops in expected.items():
        for op in ops:
            (success,) = [r for code, r in schema["paths"][path][op]["responses"].items() if code.startswith("2")]
            content = success["content"]
            if path == "/artifacts/{artifact_id}":
                assert set(content) == {"application/gzip"}
                continue
            shown = content["application/json"]["schema"]
            assert "$ref" in shown or "$ref" in shown.get("items", {}), (path, op, shown)
    summary = schema["components"]["schemas"]["JobSummary"]
    assert {"status", "best", "verify", "compute", "eta"} <= set(summary["properties"]) and summary["additionalProperties"] is False


def test_a_yaml_body_submits_the_same_job_as_json(api: Api) -> None:
    text = (EXAMPLES / "nas-bench-bert.yaml").read_text()
    from_yaml = api.client.post("/jobs", content=text, headers={"Content-Type": "application/yaml; charset=utf-8"})
    assert from_yaml.status_code == 201, from_yaml.text
    from_json = api.client.post("/jobs", json=BENCH_SPEC).json()
    drop = ("id", "created_at")
    assert {k: v for k, v in from_yaml.json().items() if k not in drop} == {k: v for k, v in from_json.items() if k not in drop}

    # Wrong YAML names its line and column; YAML sent as JSON says how to send it; nothing is written.
    broken = api.client.post("/jobs", content="name: x\nbudget: {candidates: [\n", headers={"Content-Type": "application/yaml"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["msg"].startswith("line 3, column 1: not valid YAML"), broken.text
    as_json = api.client.post("/jobs", content=text, headers={"Content-Type": "application/json"})
    assert as_json.status_code == 422 and "Content-Type: application/yaml" in as_json.json()["detail"][0]["msg"]
    listed = api.client.post("/jobs", content="- a\n- b\n", headers={"Content-Type": "text/yaml"})
    assert listed.json()["detail"][0]["msg"] == "expected a YAML mapping of spec fields, got list"
    binary = api.client.post("/jobs", content=b"name: \xff", headers={"Content-Type": "application/yaml"})
    assert binary.status_code == 422 and binary.json()["detail"][0]["msg"].startswith("not UTF-8 text")
    invalid = api.client.post("/jobs", content="name: x\nspace: flexibert\ntask: nowhere\n", headers={"Content-Type": "application/yaml"})
    assert invalid.status_code == 422 and {tuple(p["loc"]) for p in invalid.json()["detail"]} == {("body", "task")}
    assert len(api.store.list_jobs()) == 2


# ---- jobs ----


def test_submit_benchmark_spec_then_list_get_cancel(api: Api) -> None:
    response = api.client.post("/jobs", json=BENCH_SPEC)
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "queued" and job["name"] == BENCH_SPEC["name"]
    assert (job["space"], job["preset"], job["task"], job["strategy"]) == ("flexibert", "nas-bench-bert", "nas-bench-bert", "boshnas")
    assert job["objectives"] == [{"metric": "accuracy", "goal": "maximize"}, {"metric": "params", "goal": "minimize"}]
    assert job["budget"] == {"candidates": 50} and job["candidates_done"] == 0 and job["best"] is None
    assert job["supernet"] is None  # benchmark mode trains nothing
    assert job["counts"] == {"proposed": 0, "running": 0, "done": 0, "failed": 0}
    assert job["created_at"].endswith("+00:00") and job["started_at"] is None

    assert [j["id"] for j in api.client.get("/jobs").json()] == [job["id"]]
    assert [j["id"] for j in api.client.get("/jobs", params={"status": "queued"}).json()] == [job["id"]]
    assert api.client.get("/jobs", params={"status": "running"}).json() == []
    bad_status = api.client.get("/jobs", params={"status": "sleeping"})
    assert bad_status.status_code == 422 and bad_status.json()["detail"][0]["loc"] == ["query", "status"]
    assert api.client.get(f"/jobs/{job['id']}").json() == job

    cancelled = api.client.post(f"/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancel_requested"] is True
    assert api.store.get_job(job["id"]).status == "cancelled"
    assert api.client.post(f"/jobs/{job['id']}/cancel").json()["status"] == "cancelled"  # twice is fine


def test_invalid_spec_lists_every_field_and_writes_nothing(api: Api) -> None:
    spec = {
        **BENCH_SPEC,
        "name": "",
        "objectives": [{"metric": "accuracy"}, {"metric": "loss"}],
        "strategy": "grid",
        "budget": {"candidates": 0},
        "colour": "blue",
    }
    response = api.client.post("/jobs", json=spec)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    locs = [tuple(problem["loc"]) for problem in detail]
    assert set(locs) == {
        ("body", "name"), ("body", "objectives", 1, "metric"), ("body", "strategy"), ("body", "budget", "candidates"), ("body", "colour"),
    }  # fmt: skip
    messages = {tuple(p["loc"]): p["msg"] for p in detail}
    assert "accuracy" in messages[("body", "objectives", 1, "metric")]  # says what is allowed
    assert "boshnas" in messages[("body", "strategy")] and "allowed" in messages[("body", "colour")]

    # Problems across fields, and a body that is no spec at all.
    cross = api.client.post("/jobs", json={**BENCH_SPEC, "space": "vit-resnas", "supernet": {"epochs": 1}}).json()["detail"]
    assert {tuple(p["loc"]) for p in cross} == {("body", "space"), ("body", "supernet")}
    assert api.client.post("/jobs", json=["not", "a", "spec"]).status_code == 422
    assert api.client.post("/jobs", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
    assert api.store.list_jobs() == []


def test_numbers_beyond_any_real_run_are_refused_with_their_range(api: Api) -> None:
    for supernet, field, message in (
        ({"epochs": 1_000_000_000}, "epochs", "1000000000 must be >= 1 and <= 10,000"),
        ({"batch_size": 1_000_000_000}, "batch_size", "1000000000 must be >= 1 and <= 65,536"),
    ):
        response = api.client.post("/jobs", json={**DIGITS_SPEC, "supernet": supernet})
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == [{"loc": ["body", "supernet", field], "msg": message, "type": "value_error"}]
    assert api.store.list_jobs() == []


def test_a_supernet_too_short_to_learn_is_refused_at_submission(api: Api) -> None:
    """Not accepted to fail its health check minutes later (the levers: test_spec)."""
    response = api.client.post("/jobs", json={**DIGITS_SPEC, "supernet": {"epochs": 10}})
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "supernet", "epochs"] and problem["msg"].startswith("10 epochs make 120 optimizer steps")
    assert "at least 25 epochs" in problem["msg"] and "supernet.batch_size of at most 49" in problem["msg"]
    assert api.store.list_jobs() == []
    assert api.client.post("/jobs", json={**DIGITS_SPEC, "supernet": {"epochs": 10, "check": False}}).status_code == 201


def test_delete_removes_a_stopped_job_with_its_files_and_refuses_a_running_one(api: Api, tmp_path: Path) -> None:
    from nas.store import ArtifactKind

    first = api.client.post("/jobs", json=BENCH_SPEC).json()["id"]
    second = api.client.post("/jobs", json=BENCH_SPEC).json()["id"]
    add_done(api.store, first, [{"accuracy": 0.5, "params": 1e6}])
    from nas.artifact_root import ArtifactRoot

    checkpoint = Path(ArtifactRoot(tmp_path / "artifacts").supernet(api.store.get_job(first)))
    checkpoint.mkdir(parents=True)
    (checkpoint / "weights.safetensors").write_bytes(b"0")
    export = tmp_path / "exports" / "model"
    export.mkdir(parents=True)
    api.store.add_artifact(first, ArtifactKind.SUPERNET_CHECKPOINT, str(checkpoint))
    api.store.add_artifact(first, ArtifactKind.EXPORT, str(export))
    api.store.claim_job("coordinator-1")  # the first job runs

    running = api.client.delete(f"/jobs/{first}")
    assert running.status_code == 409 and "cancel it" in running.json()["detail"]
    assert checkpoint.exists() and api.store.get_job(first).status == "running"  # nothing removed
    api.store.finish_job(first, "succeeded")
    deleted = api.client.delete(f"/jobs/{first}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": first, "name": BENCH_SPEC["name"], "status": "succeeded", "deleted": True, "files_removed": 2, "files_left": 0}
    assert not checkpoint.parent.exists() and not export.exists()  # the job's whole directory
    assert api.client.get(f"/jobs/{first}").status_code == 404 and api.client.delete(f"/jobs/{first}").status_code == 404
    assert [j.id for j in api.store.list_jobs()] == [second]
    assert api.client.delete(f"/jobs/{second}").json()["files_removed"] == 0  # a queued job has no files yet
    assert api.store.list_jobs() == []


def test_candidates_download_as_csv(api: Api) -> None:
    import csv
    import io

    job_id = api.client.post("/jobs", json=BENCH_SPEC).json()["id"]
    add_done(api.store, job_id, [{"accuracy": 0.5, "params": 1e6}, {"accuracy": 0.7, "params": 3e6, "flops": 2e8}])
    response = api.client.get(f"/jobs/{job_id}/candidates", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert f"job-{job_id}-candidates.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(float(r["accuracy"]), float(r["params"]), r["flops"]) for r in rows] == [(0.5, 1e6, ""), (0.7, 3e6, "200000000.0")]
    assert list(rows[0])[:7] == ["candidate", "status", "attempt", "arch_id", "accuracy", "params", "flops"]
    assert json.loads(rows[1]["arch"]) == {"i": 1}
    assert len(api.client.get(f"/jobs/{job_id}/candidates").json()) == 2  # JSON stays the default
    bad = api.client.get(f"/jobs/{job_id}/candidates", params={"format": "xml"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "format"]

def reviews_csv(rows: int = 200, header: str = "text,label") -> bytes:
    lines = [header] + [f"{'great fun movie' if i % 2 else 'dull boring film'} number {i},{'pos' if i % 2 else 'neg'}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_a_dataset_uploaded_once_is_named_by_its_id_in_specs(api: Api) -> None:
    uploaded = api.client.post("/datasets", params={"name": "reviews.csv"}, content=reviews_csv())
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()
    assert dataset["id"].startswith("ds-") and dataset["format"] == "csv" and dataset["train_examples"] == 160
    assert dataset["sha256"] == hashlib.sha256(reviews_csv()).hexdigest() and dataset["bytes"] == len(reviews_csv())
    same = api.client.post("/datasets", params={"name": "copy.csv"}, content=reviews_csv())
    assert same.json()["id"] == dataset["id"] and same.json()["name"] == "reviews.csv"  # one dataset per content
    assert [d["id"] for d in api.client.get("/datasets").json()] == [dataset["id"]]
    assert api.client.get(f"/datasets/{dataset['id']}").json() == dataset

    spec = {"name": "uploaded", "space": "flexibert", "preset": "nas-bench-bert", "task": {"dataset": dataset["id"]}, "budget": {"candidates": 4}}
    job = api.client.post("/jobs", json=spec)
    assert job.status_code == 201, job.text
    shown = job.json()["task"]  # by its place in the data directory, never the server's path
    assert shown == {"csv": f"datasets/{dataset['id']}/reviews.csv", "text_column": "text", "label_column": "label"}
    assert str(api.data_root) not in job.text
    wrong_column = api.client.post("/jobs", json={**spec, "task": {"dataset": dataset["id"], "text_column": "review"}}).json()["detail"]
    assert wrong_column == [{"loc": ["body", "task", "dataset"], "msg": "'reviews.csv': no column 'review'", "type": "value_error"}]
    unknown = api.client.post("/jobs", json={**spec, "task": {"dataset": "ds-0123456789abcdef"}}).json()["detail"]
    assert unknown[0]["loc"] == ["body", "task", "dataset"] and "not found" in unknown[0]["msg"]

    deleted = api.client.delete(f"/datasets/{dataset['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert api.client.get(f"/datasets/{dataset['id']}").status_code == 404 and api.client.get("/datasets").json() == []
    assert api.client.delete(f"/datasets/{dataset['id']}").status_code == 404


def test_bad_uploads_are_refused_by_field_and_leave_nothing(api: Api) -> None:
    for params, body, loc, message in (
        ({"name": "reviews.csv", "text_column": "review"}, reviews_csv(), ["body"], "'reviews.csv': no column 'review'; columns are ['label', 'text'] (name the text and label columns with the text_column"),
        ({"name": "one-class.csv"}, b"text,label\ngood,1\nfine,1\n", ["body"], "class"),
        ({"name": "../up.csv"}, reviews_csv(), ["query", "name"], "not a plain file name"),
        ({"name": "notes.txt"}, reviews_csv(), ["query", "format"], "'txt' not one of csv, jsonl, npz"),
        ({"name": "r.csv", "format": "xlsx"}, reviews_csv(), ["query", "format"], "csv"),
        ({"name": "r.npz", "text_column": "t"}, reviews_csv(), ["query", "text_column"], "only csv and jsonl"),
        ({"name": "empty.csv"}, b"", ["body"], "empty"),
        ({"name": "binary.csv"}, b"\xff\xfe\x00", ["body"], "UTF-8"),
        ({"name": "arrays.npz"}, b"not a zip", ["body"], "arrays.npz"),
        ({}, reviews_csv(), ["query", "name"], "Field required"),
    ):  # fmt: skip
        response = api.client.post("/datasets", params=params, content=body)
        assert response.status_code == 422, (params, response.text)
        problem = response.json()["detail"][0]
        assert problem["loc"] == loc and message in problem["msg"], (params, problem)
        assert "great fun" not in response.text and str(api.data_root) not in response.text  # no content, no server path
    too_big = api.client.post("/datasets", params={"name": "big.csv"}, content=b"x", headers={"Content-Length": str(200 * 2**20)})
    assert too_big.status_code == 413
    assert api.anonymous.post("/datasets", params={"name": "r.csv"}, content=reviews_csv()).status_code == 401
    assert api.client.get("/datasets").json() == []
    assert not [p for p in (api.data_root / "datasets").iterdir()]  # no upload half-kept

def test_unknown_job_is_404(api: Api) -> None:
    for method, path, body in (
        ("get", "/jobs/999", None), ("post", "/jobs/999/cancel", None), ("get", "/jobs/999/pareto", None),
        ("get", "/jobs/999/candidates", None), ("post", "/jobs/999/export", {"candidate": 1, "format": "onnx", "out": "x"}),
    ):  # fmt: skip
        response = api.client.request(method, path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert "job 999 not found" in response.json()["detail"]


# ---- Pareto ----


def check_pareto_against_brute_force(store: Store, client: TestClient) -> None:
    job = service.submit_job(store, BENCH_SPEC)  # objectives: accuracy (max), params (min)
    other = service.submit_job(store, BENCH_SPEC)
    rng = random.Random(7)
    metrics = random_metrics(rng, 80)
    ids = add_done(store, job.id, metrics)
    add_done(store, other.id, [{"accuracy": 1.0, "params": 1.0, "flops": 1.0}])  # dominates all, in another job
    top = max(metrics, key=lambda m: m["accuracy"])
    metrics.append({**top, "params": top["params"] - 1})  # ties the most accurate with one param fewer
    ids += add_done(store, job.id, metrics[-1:], tag="tie")
    pending = store.add_candidates(job.id, [("pending-a", {}), ("pending-b", {})])
    store.start_candidate(pending[0].id, "test")  # running, no metrics yet
    points = dict(zip(ids, metrics))

    for query, objectives in (
        (None, [("accuracy", True), ("params", False)]),
        ("params,accuracy", [("params", False), ("accuracy", True)]),
        ("accuracy,params,flops", [("accuracy", True), ("params", False), ("flops", False)]),
        ("accuracy", [("accuracy", True)]),
        ("flops", [("flops", False)]),
    ):
        response = client.get(f"/jobs/{job.id}/pareto", params={} if query is None else {"objectives": query})
        assert response.status_code == 200, response.text
        rows = response.json()
        expected = brute_force_front(points, objectives)
        assert {r["candidate"] for r in rows} == expected, query
        assert len(objectives) == 1 or len(expected) >= 5  # a front worth the name
        first, up = objectives[0]
        values = [r["metrics"][first] for r in rows]
        assert values == sorted(values, reverse=up)  # best first on the first objective
        for row in rows:
            assert row["metrics"] == points[row["candidate"]] and row["arch"] == {"i": ids.index(row["candidate"]) if row["candidate"] != ids[-1] else 0}

    summary = client.get(f"/jobs/{job.id}").json()
    best_accuracy = max(m["accuracy"] for m in metrics)
    assert summary["candidates_done"] == 81 and summary["counts"]["running"] == 1 and summary["counts"]["proposed"] == 1
    assert summary["best"]["metrics"]["accuracy"] == best_accuracy
    # `best` is non-dominated: of the most accurate, the fewest params (then the earliest).
    assert summary["best"]["candidate"] == min((m["params"], i) for i, m in points.items() if m["accuracy"] == best_accuracy)[1]
    assert summary["chance_accuracy"] is None and summary["verify"] is None  # benchmark mode: GLUE scores, nothing trained

    rows = client.get(f"/jobs/{job.id}/candidates", params={"status": "done"}).json()
    assert [r["candidate"] for r in rows] == ids and all(r["status"] == "done" for r in rows)
    assert len(client.get(f"/jobs/{job.id}/candidates").json()) == 83

    bad_queries = {"accuracy,loss": "'loss' not in", "latency_ms": "benchmark mode", "": "one or more", "params,params": "more than once"}
    for query, fragment in bad_queries.items():
        response = client.get(f"/jobs/{job.id}/pareto", params={"objectives": query})
        assert response.status_code == 422, query
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["query", "objectives"] and fragment in problem["msg"]


def test_pareto_is_the_non_dominated_set(api: Api) -> None:
    check_pareto_against_brute_force(api.store, api.client)


def test_postgres_submit_pareto_cancel(postgres_url: str, tmp_path: Path) -> None:
    with make_api(postgres_url, tmp_path) as api:
        check_pareto_against_brute_force(api.store, api.client)
        queued = api.client.post("/jobs", json=BENCH_SPEC).json()
        assert api.client.post(f"/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
        assert api.client.post("/jobs", json={**BENCH_SPEC, "seed": -1}).status_code == 422
        assert len(api.client.get("/jobs").json()) == 3


def test_pareto_honours_constraints(api: Api) -> None:
    from nas.job.checks import cheapest_cost
    from surrogates.tabular import NAS_BENCH_BERT_TASK

    limit = 8_000_000
    assert limit > cheapest_cost("flexibert", "nas-bench-bert", NAS_BENCH_BERT_TASK).params  # else the spec is rejected
    job = service.submit_job(api.store, {**BENCH_SPEC, "constraints": {"params_max": limit}})
    rng = random.Random(3)
    metrics = random_metrics(rng, 60)
    # Over the limit and better than everything: it would dominate the whole front if counted.
    metrics.append({"accuracy": 0.99, "params": limit + 1, "flops": 1e8})
    ids = add_done(api.store, job.id, metrics)
    points = dict(zip(ids, metrics))
    feasible = {i: m for i, m in points.items() if m["params"] <= limit}
    objectives = [("accuracy", True), ("params", False)]
    assert brute_force_front(points, objectives) != brute_force_front(feasible, objectives)

    rows = api.client.get(f"/jobs/{job.id}/pareto").json()
    assert {r["candidate"] for r in rows} == brute_force_front(feasible, objectives) and len(rows) >= 3
    assert all(r["metrics"]["params"] <= limit for r in rows)
    accuracies = [r["metrics"]["accuracy"] for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    only_accuracy = api.client.get(f"/jobs/{job.id}/pareto", params={"objectives": "accuracy"}).json()
    assert {r["candidate"] for r in only_accuracy} == brute_force_front(feasible, [("accuracy", True)])

    summary = api.client.get(f"/jobs/{job.id}").json()
    assert summary["constraints"] == {"params": limit}
    assert summary["best"]["candidate"] == rows[0]["candidate"] != ids[-1]  # the best feasible one


def test_pareto_plot_writes_png(api: Api, tmp_path: Path) -> None:
    job = service.submit_job(api.store, BENCH_SPEC)
    add_done(api.store, job.id, random_metrics(random.Random(1), 30))
    for objectives in (["accuracy", "params"], ["params", "accuracy", "flops"], ["accuracy"], None):
        path = service.pareto_plot(api.store, job.id, objectives, tmp_path / "plots" / f"{'-'.join(objectives or ['default'])}.png")
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    with pytest.raises(service.BadRequest, match="objectives: 'loss' not in"):
        service.pareto_plot(api.store, job.id, ["loss"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# ---- export ----


def test_the_verified_stage_takes_candidates_spread_along_the_front(api: Api) -> None:
    from nas.results.pareto import spread_along

    assert spread_along([5.0, 1.0, 3.0, 2.0, 4.0], 3) == [1, 2, 0] and spread_along([1.0, 2.0], 3) == [0, 1] and spread_along([3.0, 1.0], 1) == [0]
    job = service.submit_job(api.store, BENCH_SPEC)
    # A front of 7 along params (each more accurate and larger), and dominated candidates.
    front = [{"accuracy": 0.60 + 0.05 * i, "params": 1e6 * (i + 1), "flops": 1e8} for i in range(7)]
    numbers = add_done(api.store, job.id, front + [{"accuracy": 0.5, "params": 9e6, "flops": 1e8}] * 1)
    chosen = verification_choice(api.store, job.id, 3)
    # Its cheapest, its most accurate and its middle, best first; not the three most accurate.
    assert [row["candidate"] for row in chosen] == [numbers[6], numbers[3], numbers[0]]
    assert [row["candidate"] for row in verification_choice(api.store, job.id, 9)][:7] == numbers[6::-1]  # the whole front, then the rest
    assert len(verification_choice(api.store, job.id, 9)) == 8


def export_body(candidate: int, out: str = "model", **extra: Any) -> dict[str, Any]:
    return {"candidate": candidate, "format": "pytorch", "out": out, **extra}


def test_export_errors(api: Api) -> None:
    bench = service.submit_job(api.store, BENCH_SPEC)
    (bench_done,) = add_done(api.store, bench.id, [{"accuracy": 0.8, "params": 5e6}])
    trained = service.submit_job(api.store, DIGITS_SPEC)
    (proposed,) = [c.seq for c in api.store.add_candidates(trained.id, [("vit-a", {"stages": []})])]
    (trained_done,) = add_done(api.store, trained.id, [{"accuracy": 0.5, "params": 1e5}], tag="t")

    for out in ("../x", "/etc", "a/../../x", ".", "", "/"):
        response = api.client.post(f"/jobs/{bench.id}/export", json=export_body(bench_done, out))
        assert response.status_code == 422, (out, response.text)
        assert [p["loc"] for p in response.json()["detail"]] == [["body", "out"]]
    for body, field in (
        (export_body(bench_done, format="tflite"), "format"), (export_body(bench_done, finetune_epochs=-1), "finetune_epochs"),
        (export_body(bench_done, overwrite=True), "overwrite"), ({"format": "onnx", "out": "x"}, "candidate"),
        (export_body(bench_done) | {"candidate": "1"}, "candidate"), (export_body(0), "candidate"),
        (export_body(bench_done, finetune_lr=0), "finetune_lr"), (export_body(bench_done, finetune_lr="1e-3"), "finetune_lr"),
        (export_body(bench_done, weights="trained"), "weights"), (export_body(bench_done, keep_worse="yes"), "keep_worse"),
    ):  # fmt: skip
        response = api.client.post(f"/jobs/{bench.id}/export", json=body)
        assert response.status_code == 422 and ["body", field] in [p["loc"] for p in response.json()["detail"]], (body, response.text)

    conflict = api.client.post(f"/jobs/{bench.id}/export", json=export_body(bench_done))
    assert conflict.status_code == 409 and "benchmark mode" in conflict.json()["detail"]
    unfinished = api.client.post(f"/jobs/{trained.id}/export", json=export_body(proposed))
    assert unfinished.status_code == 409 and f"candidate {proposed} is proposed" in unfinished.json()["detail"]
    no_checkpoint = api.client.post(f"/jobs/{trained.id}/export", json=export_body(trained_done))
    assert no_checkpoint.status_code == 409 and "no supernet checkpoint" in no_checkpoint.json()["detail"]
    missing = api.client.post(f"/jobs/{trained.id}/export", json=export_body(12345))
    assert missing.status_code == 404 and missing.json()["detail"] == f"candidate: job {trained.id} has no candidate 12345 (its candidates are numbered 1 to 2)"
    assert not api.export_root.exists() and api.store.artifacts(trained.id, "export") == []


def test_a_refused_export_changes_nothing(api: Api, tmp_path: Path, digits_supernet: Path) -> None:
    """Whatever export the service refuses (a number the job does not have, weights it
    lacks, an occupied or outside `out`, an unknown format), asked through the API, the service or
    the command line, leaves every table of the store and the disk as they were: no event, no
    artifact, no directory."""
    import sqlite3

    job, candidate = trained_job(api.store, digits_supernet, tmp_path / "mine")
    other, _ = trained_job(api.store, digits_supernet, tmp_path / "theirs")
    (api.export_root / "taken").mkdir(parents=True)
    (api.export_root / "taken" / "model.pt").write_bytes(b"another export")

    def state() -> tuple[dict[str, list[Any]], list[str]]:
        with sqlite3.connect(tmp_path / "nas.db") as db:
            tables = {name: db.execute(f"SELECT * FROM {name}").fetchall() for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return tables, sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.name.startswith("nas.db"))

    before = state()
    assert before[0]["events"] and before[0]["artifacts"]  # a store that records both
    for job_id, body, code in (
        (other.id, export_body(2, "job-2/model"), 404),  # the other job has one candidate
        (job.id, export_body(10**6, "job-1/model"), 404),
        (job.id, export_body(candidate.seq, "job-1/model", weights="verified"), 409),
        (job.id, export_body(candidate.seq, "taken"), 409),
        (job.id, export_body(candidate.seq, "../outside"), 422),
        (job.id, export_body(candidate.seq, "job-1/model", format="tflite"), 422),
    ):
        response = api.client.post(f"/jobs/{job_id}/export", json=body)
        assert response.status_code == code, (body, response.text)
    with pytest.raises(service.NotFound, match=rf"job {other.id} has no candidate 2 \(its candidates are numbered 1 to 1\)"):
        service.export_candidate(api.store, other.id, 2, "pytorch", api.export_root / "by-service")
    refused = cli("export", str(other.id), "2", "--out", str(api.export_root / "by-cli"), "--db", f"sqlite:///{tmp_path / 'nas.db'}")
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1 and f"job {other.id} has no candidate 2" in refused.stderr
    assert state() == before


def test_a_jobs_references_and_verdict(api: Api, tmp_path: Path, digits_supernet: Path) -> None:
    """The plain family trained beside the verified candidates, and the verdict, as a client reads them."""
    job = verdict_job(api.store, digits_supernet, tmp_path)
    rows = api.client.get(f"/jobs/{job.id}/references").json()
    assert [r["name"] for r in rows] == ["plain-S"] and rows[0]["trained"]["seeds"] == 2 and len(rows[0]["trained"]["test_accuracies"]) == 2
    assert rows[0]["trained"]["test_accuracy"] == pytest.approx(0.935) and rows[0]["metrics"]["latency_ms"] == 0.8
    summary = api.client.get(f"/jobs/{job.id}").json()
    verdict = summary["verdict"]
    assert summary["rungs"] == [{"rung": 1, "fidelity": "fine-tuned 5 steps", "scored": 1, "failed": 0, "best_accuracy": 0.92, "seconds": 2.0}]
    assert verdict["beat"] is True and verdict["comparisons"][0]["reference"] == "plain-S" and verdict["comparisons"][0]["ratio"] == pytest.approx(1.6)
    other, _ = trained_job(api.store, digits_supernet, tmp_path / "other")
    assert api.client.get(f"/jobs/{other.id}/references").json() == [] and api.client.get(f"/jobs/{other.id}").json()["verdict"] is None
    assert api.client.get("/jobs/9999/references").status_code == 404


def test_export_through_api(api: Api, tmp_path: Path, digits_supernet: Path) -> None:
    """A done candidate of a tiny trained supernet, exported under the export root and recorded."""
    job, candidate = trained_job(api.store, digits_supernet, tmp_path)

    response = api.client.post(f"/jobs/{job.id}/export", json=export_body(candidate.seq, "digits/best", format="torchscript"))
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["out_dir"] == "digits/best" and result["format"] == "torchscript" and result["candidate"] == candidate.seq
    directory = api.export_root / "digits" / "best"
    assert {"arch.json", "model.safetensors", "model.pt", "loader.py", "MODEL_CARD.md"} <= set(result["files"]) == {p.name for p in directory.iterdir()}
    # The model card says how good the model is, on which split, and how the search found it.
    card, meta = (directory / "MODEL_CARD.md").read_text(), json.loads((directory / "arch.json").read_text())
    assert f"| test (held out: never read by the search) | {result['metrics']['test_accuracy']:.2%} |" in card
    assert f"job {job.id} `{job.name}`, candidate {candidate.seq}" in card and "search (inherited) accuracy on validation: 30.00%" in card
    assert meta["provenance"]["candidates_evaluated"] == 1 and meta["provenance"]["job_id"] == job.id
    (artifact,) = api.store.artifacts(job.id, "export")
    assert Path(artifact.path) == directory.resolve()
    assert (artifact.meta["candidate"], artifact.meta["format"], artifact.meta["files"]) == (candidate.seq, "torchscript", result["files"])

    assert result["artifact_id"] == artifact.id

    # A client without the server's disk downloads the export as one archive.
    download = api.client.get(f"/artifacts/{artifact.id}")
    assert download.status_code == 200 and download.headers["content-type"] == "application/gzip"
    name = f"job-{job.id}-candidate-{candidate.seq}-torchscript-{artifact.id}"
    assert f'filename="{name}.tar.gz"' in download.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(download.content)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {name} | {f"{name}/{f}" for f in result["files"]}
        assert tar.extractfile(members[f"{name}/arch.json"]).read() == (directory / "arch.json").read_bytes()
    assert api.anonymous.get(f"/artifacts/{artifact.id}").status_code == 401
    (checkpoint,) = api.store.artifacts(job.id, "supernet_checkpoint")
    for unknown in (checkpoint.id, 10**6, -1):  # a checkpoint is the server's, not a download
        assert api.client.get(f"/artifacts/{unknown}").status_code == 404, unknown

    # Without `out`, the export goes to a new directory of its own.
    unnamed = api.client.post(f"/jobs/{job.id}/export", json={"candidate": candidate.seq})
    assert unnamed.status_code == 201, unnamed.text
    assert unnamed.json()["out_dir"].startswith(f"job-{job.id}/candidate-{candidate.seq}-pytorch-")
    assert api.client.get(f"/artifacts/{unnamed.json()['artifact_id']}").status_code == 200
    shutil.rmtree(api.export_root / unnamed.json()["out_dir"])
    gone = api.client.get(f"/artifacts/{unnamed.json()['artifact_id']}")
    assert gone.status_code == 409 and "no longer on this server" in gone.json()["detail"]

    again = api.client.post(f"/jobs/{job.id}/export", json=export_body(candidate.seq, "digits/best"))
    assert again.status_code == 409 and "not empty" in again.json()["detail"]
    unverified = api.client.post(f"/jobs/{job.id}/export", json=export_body(candidate.seq, "digits/verified", weights="verified"))
    assert unverified.status_code == 409 and "was not verified" in unverified.json()["detail"]
    assert api.client.get(f"/jobs/{job.id}/pareto?verified=true").json() == []


def test_exports_go_to_an_artifact_root_given_by_uri(tmp_path: Path, digits_supernet: Path) -> None:
    """A server whose export root is a URI (a cluster's s3:// or gs:// root; file:// here, through
    the same fsspec path) writes each export there and serves its download from there."""
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    remote = tmp_path / "bucket"
    app = create_app(store, TOKEN, f"file://{remote}/exports", tmp_path / "data")
    job, candidate = trained_job(store, digits_supernet, tmp_path)
    with TestClient(app, headers=AUTH) as client:
        response = client.post(f"/jobs/{job.id}/export", json=export_body(candidate.seq, "digits/best"))
        assert response.status_code == 201, response.text
        result = response.json()
        assert result["out_dir"] == "digits/best"
        (artifact,) = store.artifacts(job.id, "export")
        assert artifact.path == f"file://{remote}/exports/digits/best"
        assert {p.name for p in (remote / "exports" / "digits" / "best").iterdir()} == set(result["files"])
        download = client.get(f"/artifacts/{artifact.id}")
        assert download.status_code == 200, download.text
        name = f"job-{job.id}-candidate-{candidate.seq}-pytorch-{artifact.id}"
        with tarfile.open(fileobj=io.BytesIO(download.content)) as tar:
            assert {m.name for m in tar.getmembers()} == {name} | {f"{name}/{f}" for f in result["files"]}
            assert tar.extractfile(f"{name}/arch.json").read() == (remote / "exports" / "digits" / "best" / "arch.json").read_bytes()
        again = client.post(f"/jobs/{job.id}/export", json=export_body(candidate.seq, "digits/best"))
        assert again.status_code == 409 and "not empty" in again.json()["detail"]
        outside = client.post(f"/jobs/{job.id}/export", json=export_body(candidate.seq, "../elsewhere"))
        assert outside.status_code == 422 and [p["loc"] for p in outside.json()["detail"]] == [["body", "out"]]
        shutil.rmtree(remote / "exports" / "digits" / "best")
        gone = client.get(f"/artifacts/{artifact.id}")
        assert gone.status_code == 409 and "no longer in the artifact root" in gone.json()["detail"]
    assert not list(Path(tempfile.gettempdir()).glob("nas-export-*"))  # no scratch left behind
    store.close()


def test_the_documentation_pages_load_nothing_from_elsewhere(api: Api) -> None:
    for page, marker in (("/docs", "SwaggerUIBundle"), ("/redoc", "<redoc")):
        html = api.anonymous.get(page)
        assert html.status_code == 200 and marker in html.text, page
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", html.text)
        urls = [u for pair in urls for u in pair if u]
        assert urls and all(u.startswith("/") for u in urls), (page, urls)  # this server's, no CDN
        for url in urls:
            assert api.anonymous.get(url).status_code == 200, url
    assert "googleapis" not in api.anonymous.get("/redoc").text
    assert "cdn.redoc.ly" not in api.anonymous.get("/docs-assets/redoc.standalone.js").text  # its footer logo


def test_two_users_each_see_only_their_own_on_every_route(tmp_path: Path) -> None:
    from nas.access import add_user
    from nas.store import ArtifactKind

    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    keys = {name: add_user(store, name, admin=name == "root")[1] for name in ("alice", "bob", "root")}
    app = create_app(store, None, tmp_path / "exports", tmp_path / "data")  # keys only: no shared token

    def as_user(name: str) -> TestClient:
        return TestClient(app, headers={"Authorization": f"Bearer {keys[name]}"})

    alice, bob, root = as_user("alice"), as_user("bob"), as_user("root")
    dataset = alice.post("/datasets", params={"name": "reviews.csv"}, content=reviews_csv()).json()
    text_spec = {"name": "alice-text", "space": "flexibert", "preset": "nas-bench-bert", "task": {"dataset": dataset["id"]}}
    alice_job = alice.post("/jobs", json=text_spec).json()["id"]
    alice_bench = alice.post("/jobs", json=BENCH_SPEC).json()["id"]
    bob_job = bob.post("/jobs", json=BENCH_SPEC).json()["id"]
    assert [store.get_job(i).owner for i in (alice_job, alice_bench, bob_job)] == ["alice", "alice", "bob"]
    export_dir = tmp_path / "exports" / "alice-model"
    export_dir.mkdir(parents=True)
    (export_dir / "arch.json").write_text("{}")
    artifact = store.add_artifact(alice_job, ArtifactKind.EXPORT, str(export_dir), {"candidate": 1, "format": "pytorch"})

    # Every route on alice's job, dataset and export answers bob exactly as for ones that do not exist.
    for method, path, body in (
        ("get", "/jobs/{job}", None), ("post", "/jobs/{job}/cancel", None), ("delete", "/jobs/{job}", None),
        ("get", "/jobs/{job}/candidates", None), ("get", "/jobs/{job}/pareto", None),
        ("get", "/jobs/{job}/events", None), ("get", "/jobs/{job}/candidates/1", None),
        ("post", "/jobs/{job}/export", {"candidate": 1}),
    ):  # fmt: skip
        theirs = bob.request(method, path.format(job=alice_job), json=body)
        missing = bob.request(method, path.format(job=999), json=body)
        assert theirs.status_code == missing.status_code == 404, (method, path, theirs.text)
        assert theirs.json()["detail"] == missing.json()["detail"].replace("999", str(alice_job)), (method, path)
    assert bob.get(f"/artifacts/{artifact.id}").status_code == 404 and alice.get(f"/artifacts/{artifact.id}").status_code == 200
    assert bob.get(f"/datasets/{dataset['id']}").status_code == 404 and bob.delete(f"/datasets/{dataset['id']}").status_code == 404
    stolen = bob.post("/jobs", json={**text_spec, "name": "bob-text"}).json()["detail"]
    assert stolen[0]["loc"] == ["body", "task", "dataset"] and "not found" in stolen[0]["msg"]
    assert [j["id"] for j in bob.get("/jobs").json()] == [bob_job] and bob.get("/datasets").json() == []
    assert [j["id"] for j in alice.get("/jobs").json()] == [alice_job, alice_bench]
    assert [d["id"] for d in alice.get("/datasets").json()] == [dataset["id"]]
    own = bob.post("/datasets", params={"name": "reviews.csv"}, content=reviews_csv()).json()
    assert own["id"] != dataset["id"] and own["owner"] == "bob"  # the same file is bob's own dataset
    assert store.get_job(alice_job).status == "queued"  # bob's cancel and delete did nothing

    # An admin sees and manages everyone's; a revoked key is refused.
    assert [j["id"] for j in root.get("/jobs").json()] == [alice_job, alice_bench, bob_job]
    assert len(root.get("/datasets").json()) == 2 and root.get(f"/jobs/{alice_job}").status_code == 200
    assert root.post(f"/jobs/{bob_job}/cancel").json()["status"] == "cancelled"
    store.revoke_user("bob")
    assert bob.get("/jobs").status_code == 401 and bob.get(f"/jobs/{bob_job}").status_code == 401
    assert TestClient(app, headers={"Authorization": "Bearer nask_not-a-key"}).get("/jobs").status_code == 401


def test_nas_export_says_what_it_wrote_and_how_well_it_scores(tmp_path: Path, digits_supernet: Path) -> None:
    """For people: progress on stderr as it goes (each fine-tune epoch), then what was written,
    the exported model's scores and how to use it; with --json, the result alone."""
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job, candidate = trained_job(store, digits_supernet, tmp_path)
    out = tmp_path / "model"
    shown = cli("export", str(job.id), str(candidate.seq), "--out", str(out), "--finetune", "1", "--keep-worse", "--db", store.url)
    assert shown.exit_code == 0, shown.stderr
    assert f"exporting job {job.id}'s candidate {candidate.seq} as pytorch from its inherited weights, fine-tuning it 1 epoch first" in shown.stderr
    assert re.search(r"fine-tune epoch 1/1: validation \d+\.\d\d%", shown.stderr), shown.stderr
    assert shown.stdout.startswith(f"wrote {out}: job {job.id}'s candidate {candidate.seq} as pytorch (") and "loader.py" in shown.stdout
    assert re.search(r"inherited weights: validation \d+\.\d\d%, test \d+\.\d\d%", shown.stdout) and f"python {out}/loader.py {out} INPUT" in shown.stdout
    assert re.search(r"latency: \d+\.\d+ ms per call \(95% interval .*onnxruntime, batch 1, 1 thread, measured at export on ", shown.stdout), shown.stdout
    as_json = cli("export", str(job.id), str(candidate.seq), "--out", str(tmp_path / "again"), "--json", "--db", store.url)
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["candidate"] == candidate.seq and as_json.stderr == ""
