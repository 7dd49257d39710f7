"""The dashboard's server side, without a browser: logging in (session cookie, its flags, its end
on revocation), what a page needs without a session, the routes it reads (events with a cursor,
a candidate with its graph, who am I), and `nas report`. tests/test_dashboard_browser.py drives
the pages themselves in chromium."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nas import service
from nas.access import add_user
from nas.api import create_app
from nas.dashboard.sessions import SessionSigner
from nas.paths import data_home
from nas.store import Store
from search_spaces import get_space
from tests.helpers import API_AUTH as AUTH
from tests.helpers import API_TOKEN as TOKEN
from tests.helpers import BENCH_SPEC, cli

COOKIE = "nas_session"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'nas.db'}")


def bench_job_with_candidates(store: Store, count: int = 6, owner: str | None = None) -> tuple[int, list[int]]:
    """A NAS-Bench-BERT job with `count` done candidates: real architectures and costs, made-up accuracies."""
    job = service.submit_job(store, BENCH_SPEC, owner=owner)
    space = get_space("flexibert", "nas-bench-bert")
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(count)]
    records = store.add_candidates(job.id, [(a.arch_id, a.to_dict()) for a in archs])
    for record, arch in zip(records, archs):
        store.start_candidate(record.id, "test")
        store.record_result(record.id, {"accuracy": rng.uniform(0.5, 0.9), **space.cost(arch).to_dict()})
    return job.id, [r.seq for r in records]


def log_in(client: TestClient, key: str, next_path: str = "/") -> TestClient:
    response = client.post("/login", data={"key": key, "next": next_path}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def test_pages_need_a_session_and_login_sets_a_strict_httponly_cookie(store: Store, tmp_path: Path) -> None:
    app = create_app(store, TOKEN, tmp_path / "exports", tmp_path / "data")
    client = TestClient(app)
    for path in ("/", "/ui/jobs/1", "/ui/jobs/1/candidates/2"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}"
    assert 'name="key"' in client.get("/login").text

    refused = client.post("/login", data={"key": "wrong", "next": "/"}, follow_redirects=False)
    assert refused.status_code == 401 and "Unknown or revoked key" in refused.text and COOKIE not in refused.cookies
    assert client.post("/login", content=b"key=" + b"x" * 5000, headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413

    response = client.post("/login", data={"key": TOKEN, "next": "/ui/jobs/1"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/jobs/1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie  # the cookie names who logged in; it does not carry the secret
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/dashboard.js">' in page.text and "token holder (admin)" in page.text
    assert client.get("/me").json() == {"name": None, "admin": True}
    # The cookie works on the API's reads; a change needs the dashboard's header (no cross-site requests).
    job_id, _ = bench_job_with_candidates(store, 2)
    assert client.get(f"/jobs/{job_id}").status_code == 200
    forged = client.post(f"/jobs/{job_id}/cancel")
    assert forged.status_code == 403 and "X-NAS-Dashboard: 1" in forged.json()["detail"] and store.get_job(job_id).status == "queued"
    assert client.post(f"/jobs/{job_id}/cancel", headers={"X-NAS-Dashboard": "1"}).json()["status"] == "cancelled"

    assert client.post("/logout", follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303 and client.get("/jobs").status_code == 401


@pytest.mark.parametrize("wanted, goes_to", [("/ui/jobs/3", "/ui/jobs/3"), ("//evil.example/x", "/"), ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("", "/")])
def test_login_goes_back_only_to_this_server(store: Store, tmp_path: Path, wanted: str, goes_to: str) -> None:
    client = TestClient(create_app(store, TOKEN, tmp_path / "exports", tmp_path / "data"))
    response = client.post("/login", data={"key": TOKEN, "next": wanted}, follow_redirects=False)
    assert response.headers["location"] == goes_to


def test_a_users_session_ends_when_the_user_is_revoked_and_shows_only_their_jobs(store: Store, tmp_path: Path) -> None:
    _, alice_key = add_user(store, "alice")
    _, bob_key = add_user(store, "bob")
    app = create_app(store, None, tmp_path / "exports", tmp_path / "data")
    alice, bob = log_in(TestClient(app), alice_key), log_in(TestClient(app), bob_key)
    alice_job, alice_candidates = bench_job_with_candidates(store, 3, owner="alice")
    assert "alice" in alice.get("/").text and alice.get("/me").json() == {"name": "alice", "admin": False}
    assert [j["id"] for j in alice.get("/jobs").json()] == [alice_job] and bob.get("/jobs").json() == []
    for path in (f"/jobs/{alice_job}", f"/jobs/{alice_job}/events", f"/jobs/{alice_job}/candidates/{alice_candidates[0]}"):
        assert alice.get(path).status_code == 200 and bob.get(path).status_code == 404, path
    store.revoke_user("alice")
    assert alice.get("/jobs").status_code == 401 and alice.get("/", follow_redirects=False).status_code == 303


def test_a_forged_or_expired_session_is_refused() -> None:
    signer = SessionSigner(b"secret")
    cookie = signer.issue("key:abc")
    assert signer.subject(cookie) == "key:abc"
    payload, signature = cookie.split(".")
    assert signer.subject(f"{payload}.{signature[:-2]}xx") is None
    assert SessionSigner(b"another secret").subject(cookie) is None  # a restarted server's own secret
    assert SessionSigner(b"secret", lifetime_s=-1).subject(SessionSigner(b"secret", lifetime_s=-1).issue("token")) is None
    for junk in (None, "", ".", "not base64!.x", "a.b.c"):
        assert signer.subject(junk) is None


def test_events_follow_with_a_cursor_and_a_candidate_comes_with_its_graph(store: Store, tmp_path: Path) -> None:
    client = TestClient(create_app(store, TOKEN, tmp_path / "exports", tmp_path / "data"), headers=AUTH)
    job_id, candidates = bench_job_with_candidates(store, 4)
    events = client.get(f"/jobs/{job_id}/events").json()
    assert [e["kind"] for e in events] == ["created"] and set(events[0]) == {"id", "at", "kind", "message", "data"}
    store.claim_job("coordinator-1")
    newer = client.get(f"/jobs/{job_id}/events", params={"after": events[-1]["id"]}).json()
    assert [e["kind"] for e in newer] == ["claimed"]
    assert client.get(f"/jobs/{job_id}/events", params={"after": newer[-1]["id"]}).json() == []
    store.add_event(job_id, "error", f"RuntimeError: {data_home() / 'jobs' / 'job-1'} is full", {"traceback": "Traceback (most recent call last): ...", "step": 3})
    (error,) = client.get(f"/jobs/{job_id}/events", params={"after": newer[-1]["id"]}).json()
    assert error["message"] == "RuntimeError: <server data>/jobs/job-1 is full" and error["data"] == {"step": 3}  # no server paths, no traceback
    assert client.get(f"/jobs/{job_id}/events", params={"after": -1}).status_code == 422

    detail = client.get(f"/jobs/{job_id}/candidates/{candidates[1]}").json()
    row = next(r for r in client.get(f"/jobs/{job_id}/candidates").json() if r["candidate"] == candidates[1])
    assert {k: v for k, v in detail.items() if k != "graph"} == row
    space = get_space("flexibert", "nas-bench-bert")
    graph = space.to_graph(space.validate(row["arch"]))
    assert {n["id"] for n in detail["graph"]["nodes"]} == set(graph.nodes) and len(detail["graph"]["edges"]) == graph.number_of_edges()
    layer = {n["id"]: n["layer"] for n in detail["graph"]["nodes"]}
    assert layer["input"] == 0 and all(layer[v] > layer[u] for u, v in detail["graph"]["edges"])  # drawn top to bottom
    assert row["features"]["layers"] == len(row["arch"]["layers"]) and 0 <= row["features"]["sa heads"] <= 1
    other_job, _ = bench_job_with_candidates(store, 1)
    for path in (f"/jobs/{other_job}/candidates/2", f"/jobs/{job_id}/candidates/999", f"/jobs/999/candidates/{candidates[0]}"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/jobs/{other_job}/candidates/2").json()["detail"] == f"candidate: job {other_job} has no candidate 2 (its candidates are numbered 1 to 1)"
    assert client.get(f"/jobs/{job_id}/candidates/0").status_code == 422  # numbers start at 1


def test_static_files_are_served_locally(store: Store, tmp_path: Path) -> None:
    client = TestClient(create_app(store, TOKEN, tmp_path / "exports", tmp_path / "data"))
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and plotly.headers["content-type"].startswith("text/javascript") and len(plotly.content) > 1_000_000
    assert "jobPage" in client.get("/static/dashboard.js").text
    assert client.get("/static/../api.py").status_code == 404 and client.get("/static/nothing.js").status_code == 404


def test_report_is_one_file_with_the_data_and_plotly_inside(store: Store, tmp_path: Path) -> None:
    job_id, candidates = bench_job_with_candidates(store, 6)
    out = tmp_path / "report.html"
    result = cli("report", str(job_id), "--out", str(out), "--db", store.url)
    assert result.exit_code == 0 and "wrote" in result.stdout, result.stderr
    page = out.read_text()
    assert "<script src=" not in page and '<link rel="stylesheet"' not in page  # nothing to fetch
    boot = json.loads(re.search(r'<script id="boot" type="application/json">(.*?)</script>', page, re.S).group(1))
    embedded = boot["embedded"]
    assert embedded["job"]["id"] == job_id and [c["candidate"] for c in embedded["candidates"]] == candidates
    front = [r["candidate"] for r in service.pareto_rows(store, job_id, ["accuracy", "params"])]
    assert embedded["fronts"]["accuracy,params"] == embedded["fronts"]["params,accuracy"] == front
    assert "plotly" in page[:200_000] or "Plotly" in page
    for args, message in ((["report", "999", "--out", str(out)], "job 999 not found"), (["report", str(job_id), "--out", str(tmp_path)], "is a directory"), (["report", str(job_id), "--out", str(tmp_path / "no" / "r.html")], "does not exist")):
        failed = cli(*args, "--db", store.url)
        assert failed.exit_code == 2 and message in failed.stderr and "Traceback" not in failed.stderr, failed.stderr


def test_eta_follows_the_pace_of_the_running_stage(store: Store) -> None:
    from datetime import timedelta

    job_id, _ = bench_job_with_candidates(store, 4)
    assert service.job_summary(store, store.get_job(job_id))["eta"] is None  # queued: nothing runs yet
    job = store.claim_job("coordinator-1")
    spec, counts = service.job_spec(job), store.counts(job_id)
    ten_s_in = job.started_at + timedelta(seconds=10)
    # 4 of 50 candidates in 10 s: 46 more at that pace.
    assert service.stage_eta(job, spec, store.events(job_id), counts, now=ten_s_in) == {"stage": "search", "seconds": 115.0}
    assert service.stage_eta(job, spec, store.events(job_id), {"done": 0, "failed": 0}, now=ten_s_in) == {"stage": "search", "seconds": None}
