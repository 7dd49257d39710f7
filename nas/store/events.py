"""The kinds of a job's events, the log `nas status`, the API and the dashboard read."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    # the store's own, written with each transition
    CREATED = "created"
    CLAIMED = "claimed"
    RESUMED = "resumed"  # another coordinator took over a job whose heartbeat went stale
    RELEASED = "released"  # its coordinator stopped and handed it back to the queue
    CANCELLED = "cancelled"
    CANCEL_REQUESTED = "cancel_requested"
    FINISHED = "finished"
    # the coordinator's, in the order they occur (the service reads the latest supernet one)
    SUPERNET_STARTED = "supernet"
    SUPERNET_PROGRESS = "supernet_progress"
    SUPERNET_RESUMED = "supernet_resumed"
    SUPERNET_TRAINED = "supernet_trained"
    SUPERNET_HEALTH = "supernet_health"  # largest / smallest subnet against the majority-class rate
    RUNG_STARTED = "rung"  # successive halving: a rung's candidates chosen (nas.search.rungs)
    RUNG_DONE = "rung_done"
    VERIFY_STARTED = "verify"  # the verified stage began (nas.search.verification)
    VERIFIED = "verified"  # one candidate's standalone training committed
    VERIFY_FAILED = "verify_failed"
    REFERENCES_SCORED = "references"  # the plain family's members that meet the constraints, scored by the evaluators
    REFERENCE_TRAINED = "reference_trained"  # one plain-family member's standalone training (one seed) committed
    VERIFY_DONE = "verify_done"
    VERDICT = "verdict"  # the verified candidates against the plain family (nas.results.verdict)
    TIME_BUDGET = "time_budget"
    EVALUATORS_STARTED = "evaluators_started"  # where the search's evaluator actors run (Ray node, host, device)
    RESOURCES = "resources"  # fewer evaluators than asked: the cluster cannot place them all
    LATENCY_PREDICTOR = "latency_predictor"  # a latency predictor calibrated or reused, or the front's predictions measured (nas.search.latency_plan)
    SEARCH_STARTED = "search"  # the evaluation loop began: how far ahead proposals are asked (what reproduces)
    EXHAUSTED = "exhausted"
    ERROR = "error"  # a job failed on an unexpected exception; its data holds the traceback
