"""Progress as lines, for `nas run` when its output is not a terminal (a log file, CI, a pipe):
the job's events as they are stored, and a line on the candidates each time more are done."""

from __future__ import annotations

import sys
import threading
from typing import Self, TextIO

from nas.job.metrics import metric
from nas.job.schema import JobSpec
from nas.store import CandidateStatus, Store

POLL_S = 2.0
CANDIDATE_LINE_EVERY_S = 10.0  # at most one candidates line this often: a fast search does not flood the log


class ProgressLines:
    """Writes the job's progress to `out` in a thread of its own until `stop`."""

    def __init__(self, store: Store, job_id: int, out: TextIO | None = None):
        self.store, self.job_id, self.out = store, job_id, out or sys.stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{job_id}", daemon=True)
        self._last_event: int | None = None
        self._last_done = -1
        self._last_line_at = -CANDIDATE_LINE_EVERY_S

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._write_new(final=True)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            self._write_new()

    def _write_new(self, final: bool = False) -> None:
        for event in self.store.events(self.job_id, since_id=self._last_event):
            self._last_event = event.id
            self._line(f"{event.at:%H:%M:%S} {event.kind}: {event.message}" if event.message else f"{event.at:%H:%M:%S} {event.kind}")
        counts = self.store.counts(self.job_id)
        done = counts.get(CandidateStatus.DONE, 0)
        now = self.store.clock.now().timestamp()
        if done != self._last_done and (final or now - self._last_line_at >= CANDIDATE_LINE_EVERY_S):
            self._last_done, self._last_line_at = done, now
            self._line(self._candidates_line(done, counts.get(CandidateStatus.FAILED, 0)))

    def _candidates_line(self, done: int, failed: int) -> str:
        from nas.service import best_row

        job = self.store.get_job(self.job_id)
        spec = JobSpec.from_stored(job.spec)
        primary = metric(spec.objectives[0].metric, spec.is_benchmark)
        best = best_row(self.store, job)  # the one `nas status` names: first on the front, ties broken alike
        best_text = f", best {primary.label} {primary.format(best['metrics'].get(primary.name))} (candidate {best['candidate']})" if best else ""
        failed_text = f", {failed} failed" if failed else ""
        return f"{self.store.clock.now():%H:%M:%S} candidates: {done} of {spec.budget.candidates} done{failed_text}{best_text}"

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
