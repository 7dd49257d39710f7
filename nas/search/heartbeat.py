"""A coordinator's claim on a job, kept fresh from a background thread."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from nas.store import Store

logger = logging.getLogger(__name__)


@dataclass
class Heartbeat:
    """Refreshes the claim every `interval` seconds; `lost` is set when another coordinator took
    the job over (its heartbeat had gone stale), `stop` ends the thread."""

    store: Store
    job_id: int
    worker: str
    interval: float
    lost: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"heartbeat-job-{self.job_id}", daemon=True).start()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                if not self.store.heartbeat(self.job_id, self.worker):
                    logger.warning("job %d: claim lost to another coordinator", self.job_id)
                    self.lost.set()
                    return
            except Exception:  # a database hiccup: try again next beat; staleness is minutes away
                logger.warning("job %d: heartbeat failed; retrying in %.0f s", self.job_id, self.interval, exc_info=True)
