"""A coordinator's claim on a job, and its presence, kept fresh from background threads."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from nas.store import Claim, Store

logger = logging.getLogger(__name__)


@dataclass
class Heartbeat:
    """Refreshes the claim every `interval` seconds; `lost` is set when another coordinator took
    the job over (its heartbeat had gone stale), or when the heartbeat itself broke (`broken`:
    anything but the database failing to answer, which is retried), `stop` ends the thread."""

    store: Store
    claim: Claim
    interval: float
    lost: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    broken: Exception | None = None

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
            except DBAPIError:  # the database did not answer: try again next beat; staleness is minutes away
                logger.warning("job %d: heartbeat failed; retrying in %.0f s", job_id, self.interval, exc_info=True)
            except Exception as exc:  # a fault of ours: retrying would repeat it until the claim went stale
                logger.exception("job %d: heartbeat broke; the job stops", job_id)
                self.broken = exc
                self.lost.set()
                return


@dataclass
class Presence:
    """Announces a coordinator as alive every `interval` seconds until `stop`, then as gone (the
    store's `coordinators`: what GET /health counts, and what tells a queued job's submitter
    whether anything will run it)."""

    store: Store
    name: str
    interval: float
    stop_event: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._beat()  # alive from the start, not one interval later
        self._thread = threading.Thread(target=self._run, name=f"presence-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.store.coordinator_gone(self.name)
        except DBAPIError:  # the store is unreachable: the entry goes stale instead
            logger.warning("coordinator %s: could not sign off; it will read as gone once stale", self.name, exc_info=True)

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self._beat()

    def _beat(self) -> None:
        try:
            self.store.coordinator_beat(self.name)
        except DBAPIError:  # the database did not answer: try again next beat
            logger.warning("coordinator %s: presence beat failed; retrying in %.0f s", self.name, self.interval, exc_info=True)
