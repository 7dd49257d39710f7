"""A coordinator's claim on a job, kept fresh from a background thread."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from nas.store import Claim, Store

logger = logging.getLogger(__name__)


@dataclass
class Heartbeat:
    """Refreshes the claim every `interval` seconds; `lost` is set when another coordinator took
    the job over (its heartbeat had gone stale), `stop` ends the thread."""

    store: Store
    claim: Claim
    interval: float
    lost: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"heartbeat-job-{self.claim.job_id}", daemon=True).start()

    def _run(self) -> None:
        job_id = self.claim.job_id
        while not self.stop.wait(self.interval):
            try:
                if not self.store.heartbeat(job_id, self.claim.worker, self.claim.epoch):
                    logger.warning("job %d: claim lost to another coordinator", job_id)
                    self.lost.set()
                    return
            except Exception:  # a database hiccup: try again next beat; staleness is minutes away
                logger.warning("job %d: heartbeat failed; retrying in %.0f s", job_id, self.interval, exc_info=True)
