"""The REST API under load, as a team would use it: `nas serve` (its own process, uvicorn) with a
job running beside it (`nas coordinator`), N jobs already stored, and C concurrent clients for
S seconds mixing the reads a client makes (job list pages, one job, its Pareto front, its
candidates) with rejected submissions. Prints requests/s, p50 / p99 latency and errors, per
database.

    python scripts/bench_api_load.py                       # 200 jobs, 20 clients, 30 s, SQLite and PostgreSQL
    python scripts/bench_api_load.py --seconds 10 --json --backends sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from nas.service import submit_job  # noqa: E402
from nas.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TOKEN = "load-test"
BENCH_SPEC = yaml.safe_load((REPO / "examples" / "nas-bench-bert.yaml").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_schema_url() -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = f"load_{uuid.uuid4().hex[:10]}"
    with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    return f"{POSTGRES}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def prepare(db: str, jobs: int) -> int:
    """`jobs` finished benchmark jobs with 20 candidates each, then one queued long job; its id."""
    store = Store(db)
    rng = random.Random(0)
    for i in range(jobs):
        job = submit_job(store, {**BENCH_SPEC, "name": f"stored-{i}", "budget": {"candidates": 20}})
        claim = store.claim_job("loader", job_id=job.id).claim
        candidates = store.add_candidates(job.id, [(f"{i}-{k}", {"k": k}) for k in range(20)], claim=claim)
        for candidate in candidates:
            store.start_candidate(candidate.id, "loader", claim=claim)
            store.record_result(candidate.id, {"accuracy": rng.uniform(60, 75), "params": rng.uniform(4e6, 14e6), "flops": rng.uniform(1e8, 1.5e9)}, claim=claim)
        store.finish_job(job.id, "succeeded", claim=claim)
    running = submit_job(store, {**BENCH_SPEC, "name": "running", "strategy": "random", "budget": {"candidates": 491}})
    store.close()
    return running.id


def client(base: str, job_ids: list[int], stop: float, latencies: list[float], errors: list[str], seed: int) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    while time.monotonic() < stop:
        job = rng.choice(job_ids)
        method, path, body = rng.choice(
            [
                ("GET", "/jobs", None),
                ("GET", f"/jobs?after={rng.randrange(0, len(job_ids))}&limit=20", None),
                ("GET", f"/jobs/{job}", None),
                ("GET", f"/jobs/{job}/pareto", None),
                ("GET", f"/jobs/{job}/candidates", None),
                ("POST", "/jobs", json.dumps({**BENCH_SPEC, "budget": {"candidates": -1}}).encode()),  # rejected: 422
            ]
        )
        request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or (method == "GET" and exc.code != 200):
                errors.append(f"{method} {path}: {exc.code}")
        except OSError as exc:
            errors.append(f"{method} {path}: {exc}")
            continue
        latencies.append(time.perf_counter() - started)


def measure(backend: str, jobs: int, clients: int, seconds: float) -> dict:
    home = Path(tempfile.mkdtemp(prefix="nas-load-"))
    schema = None
    if backend == "sqlite":
        db = f"sqlite:///{home / 'nas.db'}"
    else:
        db, schema = postgres_schema_url()
    env = {**os.environ, "NAS_HOME": str(home), "NAS_API_TOKEN": TOKEN}
    running = prepare(db, jobs)
    port = free_port()
    nas = str(Path(sys.executable).parent / "nas")
    server = subprocess.Popen([nas, "serve", "--db", db, "--port", str(port), "--export-root", str(home / "exports")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    coordinator = subprocess.Popen([nas, "coordinator", "--db", db, "--job", str(running), "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nas serve did not start") from None
                time.sleep(0.2)
        latencies: list[float] = []
        errors: list[str] = []
        stop = time.monotonic() + seconds
        threads = [threading.Thread(target=client, args=(base, list(range(1, running + 1)), stop, latencies, errors, i)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        store = Store(db)
        done_while = store.counts(running)["done"]
        store.close()
    finally:
        for process in (server, coordinator):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        if schema:
            drop_schema(schema)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 100 else [max(latencies)] * 99
    return {
        "backend": backend, "jobs_stored": jobs + 1, "clients": clients, "seconds": seconds, "requests": len(latencies),
        "requests_per_s": round(len(latencies) / seconds, 1), "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1), "errors": len(errors), "error_samples": errors[:5],
        "running_job_candidates_done": done_while,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [measure(b, args.jobs, args.clients, args.seconds) for b in args.backends.split(",")]
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(f"{r['backend']:10s} {r['jobs_stored']} jobs, {r['clients']} clients, {r['seconds']:.0f} s: {r['requests_per_s']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, errors {r['errors']} {r['error_samples']}; running job {r['running_job_candidates_done']} done meanwhile")


if __name__ == "__main__":
    main()
