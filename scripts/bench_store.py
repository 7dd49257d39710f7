"""Store throughput: bulk-insert rows/s and Pareto-query latency over N stored candidates.

    python scripts/bench_store.py                                   # SQLite in a temporary directory
    python scripts/bench_store.py --url postgresql://postgres@127.0.0.1:5432/test

On PostgreSQL the run uses a fresh schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from nas.results.front import pareto_candidates
from nas.store import Store, resolve_db_url


@contextmanager
def scratch_url(url: str | None) -> Iterator[str]:
    """A database URL nobody else uses: a temporary SQLite file, or a new PostgreSQL schema."""
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    admin = create_engine(resolve_db_url(url), isolation_level="AUTOCOMMIT")
    schema = f"nas_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(resolve_db_url(url)).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def store_figures(url: str | None, n: int = 100_000, batch: int = 10_000, repeats: int = 5) -> dict:
    """Bulk-insert `n` synthetic results into a scratch database, then time Pareto queries."""
    rng = np.random.default_rng(0)
    with scratch_url(url) as scratch, Store(scratch) as store:
        job = store.create_job({"bench": True}, "bench")
        accuracy = np.round(rng.random(n), 3)  # rounded: ties and duplicates, as real scores have
        params = np.round(rng.lognormal(14, 1, n), -3)
        flops = params * rng.uniform(20, 40, n)
        start = time.perf_counter()
        for lo in range(0, n, batch):
            store.bulk_insert_results(
                job.id,
                (
                    {"arch_id": f"{i:016x}", "arch": {"i": i}, "metrics": {"accuracy": accuracy[i], "params": params[i], "flops": flops[i]}}
                    for i in range(lo, min(lo + batch, n))
                ),
            )
        insert_s = time.perf_counter() - start
        figures = {"backend": store.backend, "rows": n, "insert_rows_per_s": n / insert_s, "pareto_ms": {}}
        print(f"backend {store.backend}: bulk insert {n:,} rows in {insert_s:.2f} s = {n / insert_s:,.0f} rows/s")
        for objectives in ([("accuracy", True), ("params", False)], [("accuracy", True), ("params", False), ("flops", False)]):
            times, front = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                front = pareto_candidates(store, job.id, objectives)
                times.append(time.perf_counter() - start)
            names = ", ".join(f"{m} {'max' if up else 'min'}" for m, up in objectives)
            figures["pareto_ms"][",".join(m for m, _ in objectives)] = {"median": statistics.median(times) * 1000, "best": min(times) * 1000, "front": len(front)}
            print(f"  pareto({names}) over {n:,}: median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms, front {len(front)}")
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("-n", type=int, default=100_000, help="candidates to store")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per bulk insert")
    parser.add_argument("--repeats", type=int, default=5, help="Pareto queries timed")
    args = parser.parse_args()
    store_figures(args.url, args.n, args.batch, args.repeats)


if __name__ == "__main__":
    main()
