"""`nas report`: a job's dashboard page as one HTML file that stands alone (mail it, archive it).

The page is the live one (`dashboard.js`), fed from data embedded in it instead of the API: the
job's summary, candidates and events, and the Pareto front of every pair of metrics, so choosing
the plot's axes works offline too. Plotly.js and the styles are inlined.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path

from nas import service
from nas.dashboard.pages import render_page
from nas.store import Store


def job_report(store: Store, job_id: int, data_root: Path | None = None) -> str:
    job = service.get_job(store, job_id)
    summary = service.public_summary(service.job_summary(store, job), data_root)
    candidates = service.candidate_rows(store, job_id)
    done = [c for c in candidates if c["status"] == "done"]
    metrics = sorted({name for c in done for name, value in c["metrics"].items() if isinstance(value, (int, float))})
    verified = any(c["verified"] for c in done)
    fronts: dict[str, list[int]] = {}
    for x, y in itertools.combinations(metrics, 2):  # a front does not depend on the axes' order
        for on_verified in (False, True) if verified else (False,):
            ids = [row["candidate"] for row in service.pareto_rows(store, job_id, [x, y], verified=on_verified)]
            prefix = "verified:" if on_verified else ""
            fronts[f"{prefix}{x},{y}"] = fronts[f"{prefix}{y},{x}"] = ids
    embedded = {"job": summary, "candidates": candidates, "events": service.event_rows(store, job_id), "fronts": fronts, "analysis": service.job_analysis(store, job_id), "references": service.reference_rows(store, job_id)}
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    boot = {"page": "job", "job_id": job_id, "embedded": embedded, "generated_at": generated}
    return render_page(f"Job {job_id}: {job.name} (report, {generated})", boot, inline=True)
