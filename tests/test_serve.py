"""`nas serve` as a team's server: a real uvicorn process with the coordinator it runs beside the
API. A job submitted over HTTP runs with nothing else started; /health counts the coordinator;
stopping the server stops its coordinator, which signs off. With `--no-coordinator` a queued
job says that nothing will run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from nas.store import Store
from tests.helpers import EXAMPLES, REPO, CliResult, cli, nas_serve, poll, reviews_csv

pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]

TOKEN = "serve-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_a_lone_server_runs_the_jobs_it_accepts(tmp_path: Path, ray_address: str) -> None:
    spec = (EXAMPLES / "nas-bench-bert.yaml").read_text().replace("candidates: 50", "candidates: 20")
    with nas_serve(tmp_path, ray_address=ray_address) as (url, server):
        health = poll(lambda: (h := httpx.get(f"{url}/health").json())["coordinators"] == 1 and h, 60, "the coordinator to announce itself")
        assert health["jobs"] == {"queued": 0, "running": 0}
        submitted = httpx.post(f"{url}/jobs", content=spec, headers={**AUTH, "Content-Type": "application/yaml"})
        assert submitted.status_code == 201, submitted.text
        job_id = submitted.json()["id"]
        finished = poll(lambda: (j := httpx.get(f"{url}/jobs/{job_id}", headers=AUTH).json())["status"] in ("succeeded", "failed") and j, 180, "the job to finish", every=0.5)
        assert finished["status"] == "succeeded" and finished["candidates_done"] == 20, finished
        assert finished["waiting"] is None
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
    log = (tmp_path / "serve.log").read_text()
    assert "did not stop" not in log and "Traceback" not in log, log
    with Store(f"sqlite:///{tmp_path / 'home' / 'nas.db'}") as store:
        assert store.coordinators() == []  # the coordinator signed off when the server stopped


def test_kill_stops_the_server_and_its_coordinators(tmp_path: Path, ray_address: str) -> None:
    """SIGTERM (`kill`, systemd, docker stop) ends the server as Ctrl-C does: its coordinator
    processes stop with it instead of living on, orphaned, claiming jobs."""
    with nas_serve(tmp_path, ray_address=ray_address) as (url, server), Store(f"sqlite:///{tmp_path / 'home' / 'nas.db'}") as store:
        (coordinator,) = poll(store.coordinators, 60, "the coordinator")
        child = int(coordinator.name.split(":")[1])  # host:pid:suffix
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0

        def gone() -> bool:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return True
            return False

        poll(gone, 60, "the coordinator process to end")
        assert store.coordinators() == []


def test_a_stopping_server_hands_its_running_job_to_the_next_one(tmp_path: Path, ray_address: str) -> None:
    """Restarting `nas serve` (an upgrade, a reboot) costs a job no stale timeout: the coordinator
    that stops hands the job back to the queue, and the next server's resumes it at once, keeping
    every result stored."""
    spec = (EXAMPLES / "nas-bench-bert.yaml").read_text().replace("candidates: 50", "candidates: 2000")
    with nas_serve(tmp_path, ray_address=ray_address) as (url, server):
        job_id = httpx.post(f"{url}/jobs", content=spec, headers={**AUTH, "Content-Type": "application/yaml"}).json()["id"]
        poll(lambda: httpx.get(f"{url}/jobs/{job_id}", headers=AUTH).json()["candidates_done"] >= 5, 180, "some candidates", every=0.5)
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
    with Store(f"sqlite:///{tmp_path / 'home' / 'nas.db'}") as store:
        job = store.get_job(job_id)
        assert (job.status, job.claimed_by) == ("queued", None) and store.events(job_id)[-1].kind == "released"
        done_before = store.counts(job_id)["done"]
        assert store.counts(job_id)["running"] == 0
    with nas_serve(tmp_path, ray_address=ray_address) as (url, _):
        poll(lambda: httpx.get(f"{url}/jobs/{job_id}", headers=AUTH).json()["candidates_done"] > done_before, 60, "the job to go on", every=0.5)
        httpx.post(f"{url}/jobs/{job_id}/cancel", headers=AUTH)
    with Store(f"sqlite:///{tmp_path / 'home' / 'nas.db'}") as store:
        kinds = [e.kind for e in store.events(job_id)]
        assert kinds[kinds.index("released") + 1] == "claimed"  # claimed from the queue, not taken over as stale
        assert store.counts(job_id)["done"] > done_before


def test_a_server_of_user_keys_without_coordinators_says_a_queued_job_waits(tmp_path: Path) -> None:
    from nas.access import add_user

    with Store(f"sqlite:///{tmp_path / 'home' / 'nas.db'}") as store:  # users, and no --token: keys only
        _, key = add_user(store, "alice")
    with nas_serve(tmp_path, "--no-coordinator", token=None) as (url, _):
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/yaml"}
        submitted = httpx.post(f"{url}/jobs", content=(EXAMPLES / "nas-bench-bert.yaml").read_text(), headers=headers)
        assert submitted.status_code == 201 and "nas coordinator" in submitted.json()["waiting"]
        assert httpx.get(f"{url}/health").json() == {"status": "ok", "coordinators": 0, "jobs": {"queued": 1, "running": 0}}
        assert httpx.get(f"{url}/jobs", headers=AUTH).status_code == 401  # no server token was given


def test_a_remote_client_uploads_data_and_downloads_a_model(tmp_path: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nas remote` from another directory, with only the URL and the token: a CSV of review
    snippets is uploaded, a (tiny) FlexiBERT job on it submitted and waited for, its front read,
    its best candidate exported and downloaded; the downloaded model then classifies texts with
    its own loader.py, in a fresh process. The client runs in this process (one call in a process
    of its own), the server in its own."""
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    classes = reviews_csv(client_dir / "reviews.csv", 400, columns=("review", "verdict"))
    with nas_serve(tmp_path / "server", ray_address=ray_address) as (url, _):
        env = {**os.environ, "NAS_URL": url, "NAS_API_TOKEN": TOKEN, "PYTHONPATH": str(REPO), "NAS_HOME": str(client_dir / "no-home")}
        for name in ("NAS_URL", "NAS_API_TOKEN", "NAS_HOME"):
            monkeypatch.setenv(name, env[name])
        monkeypatch.chdir(client_dir)

        def remote(*args: str) -> CliResult:  # answers as JSON, to read them here
            return cli("remote", *args, "--json")

        wrong = remote("upload", "reviews.csv")  # its columns are not the default text / label
        assert wrong.exit_code == 2 and "no column 'text'" in wrong.stderr and "Traceback" not in wrong.stderr
        uploaded = remote("upload", "reviews.csv", "--text-column", "review", "--label-column", "verdict")
        assert uploaded.exit_code == 0, uploaded.stderr
        dataset = json.loads(uploaded.stdout)
        assert dataset["train_examples"] == 320 and [d["id"] for d in json.loads(remote("datasets").stdout)] == [dataset["id"]]
        spec = {
            "name": "remote-reviews", "space": "flexibert", "preset": "nas-bench-bert", "task": {"dataset": dataset["id"]}, "budget": {"candidates": 3},
            "supernet": {"epochs": 1, "batch_size": 64, "check": False}, "verify": {"top_k": 0},
        }  # fmt: skip
        (client_dir / "job.yaml").write_text(yaml.safe_dump(spec))
        submitted = remote("submit", "job.yaml")
        assert submitted.exit_code == 0, submitted.stderr
        job_id = str(json.loads(submitted.stdout)["id"])
        waited = remote("wait", job_id)
        assert waited.exit_code == 0 and json.loads(waited.stdout)["status"] == "succeeded", waited.stdout + waited.stderr
        front = json.loads(remote("pareto", job_id).stdout)
        exported = remote("export", job_id, str(front[0]["candidate"]), "--out", "model")
        assert exported.exit_code == 0, exported.stderr
        assert {"arch.json", "model.safetensors", "loader.py", "tokenizer.json"} <= set(json.loads(exported.stdout)["files"])
        again = remote("export", job_id, str(front[0]["candidate"]), "--out", "model")
        assert again.exit_code == 2 and "not an empty directory" in again.stderr
        assert [j["id"] for j in json.loads(remote("jobs").stdout)] == [int(job_id)]
        assert [c["status"] for c in json.loads(remote("candidates", job_id).stdout)] == ["done"] * 3
        assert json.loads(remote("cancel", job_id).stdout)["status"] == "succeeded"  # cancelling a finished job changes nothing
        shown = cli("remote", "status", job_id)  # for people by default, as the local commands
        assert shown.exit_code == 0 and f"job {job_id} remote-reviews: succeeded" in shown.stdout and "best: candidate" in shown.stdout, shown.stdout
        table = cli("remote", "candidates", job_id)
        assert table.exit_code == 0 and "candidate" in table.stdout and "accuracy" in table.stdout and not table.stdout.lstrip().startswith("["), table.stdout
        unconfirmed = remote("delete", job_id)
        assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
        refused = remote("status", "999")
        assert refused.exit_code == 2 and "job 999 not found" in refused.stderr and "Traceback" not in refused.stderr
        wrong_token = subprocess.run([sys.executable, "-m", "nas.cli", "remote", "status", job_id, "--token", "wrong"], cwd=client_dir, env=env, capture_output=True, text=True, timeout=60)
        assert wrong_token.returncode == 2 and "401" in wrong_token.stderr
    assert not (client_dir / "no-home").exists()  # the client kept nothing of its own
    assert list((tmp_path / "server" / "home" / "artifacts" / "exports").glob(f"job-{job_id}/candidate-*"))  # the server's default export root
    assert not (REPO / "exports").exists()  # not its working directory
    (client_dir / "texts.txt").write_text("a gripping, beautifully acted film\ntedious and far too long\n")
    predicted = subprocess.run([sys.executable, "model/loader.py", "model", "texts.txt"], cwd=client_dir, capture_output=True, text=True, timeout=120)
    assert predicted.returncode == 0, predicted.stderr
    assert {json.loads(line)["class"] for line in predicted.stdout.splitlines()} <= set(classes) and len(predicted.stdout.splitlines()) == 2
