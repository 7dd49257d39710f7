"""Which candidates' latency a job measures and which it predicts (`latency.predict_after`).

Measuring a candidate exports it and times it (1–2 s each); at thousands of candidates that
dominates a job. With `predict_after: N`, the first N candidates are measured, a latency predictor
(nas.export.latency_model) is calibrated on them, and later candidates get its prediction
(`latency_predicted: 1` beside `latency_ms`) instead of a measurement. A predictor calibrated
earlier by another job of the same space, task shape, runtime settings and machine (stored as an
artifact of kind `latency_predictor`) is used from the first measurement on. Once the search ends,
every predicted candidate on the front is measured, until the front holds only measured ones, and
the job reports how far the predictions were from those measurements (Kendall tau and mean
relative error). The verified stage and the verdict therefore see only measured latencies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nas.export.latency import LatencySettings
from nas.export.latency_model import LatencyPredictor, PredictorError, prediction_error
from nas.job.schema import JobSpec
from nas.store import ArtifactKind, CandidateRecord, CandidateStatus, Claim, EventKind, Store
from search_spaces import MODELS_VERSION, SearchSpace, TaskShape

logger = logging.getLogger(__name__)

PREDICTED = "latency_predicted"  # a candidate metric: 1.0 where latency_ms is a prediction
PREDICTION = "latency_prediction_ms"  # a front member's prediction, kept beside its measurement
MACHINE = "latency_machine"
MAX_FRONT_ROUNDS = 10  # measuring the front can change it; each round measures the new members
CROSS_VALIDATION_FOLDS = 5


class LatencyPlan:
    """The job's latency bookkeeping: whether the next candidate is measured, the prediction for
    one that is not, and the front's measurements at the end."""

    def __init__(self, store: Store, job_id: int, claim: Claim | None, spec: JobSpec, space: SearchSpace, shape: TaskShape):
        self.store, self.job_id, self.claim, self.spec, self.space, self.shape = store, job_id, claim, spec, space, shape
        self.settings = LatencySettings.of(spec.latency)
        self.after = spec.latency.predict_after if spec.latency is not None else None
        self.predictor: LatencyPredictor | None = None
        self.measured: list[tuple[Any, float]] = []  # (architecture, latency_ms) of the measured candidates
        self.machine: str | None = None
        for candidate in store.candidates(job_id, CandidateStatus.DONE):  # a resumed job picks up where it was
            self._learn(candidate.arch, candidate.metrics)

    @property
    def predicting(self) -> bool:
        return self.predictor is not None

    @property
    def calibrating(self) -> bool:
        """A predictor will take over once enough candidates are measured, and has not yet: a
        measurement is worth its cost only until then."""
        return self.after is not None and self.predictor is None

    def complete(self, arch_data: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        """A candidate's metrics as stored: with the predicted latency where it was not measured;
        a measured one calibrates the predictor once there are enough."""
        if "latency_ms" not in metrics and self.predictor is not None:
            return {**metrics, "latency_ms": self.predictor.predict(self.space.validate(arch_data)), PREDICTED: 1.0, MACHINE: self.predictor.machine}
        self._learn(arch_data, metrics)
        return metrics

    def _learn(self, arch_data: dict[str, Any], metrics: dict[str, Any]) -> None:
        if self.after is None or "latency_ms" not in metrics or metrics.get(PREDICTED):
            return
        self.machine = self.machine or metrics.get(MACHINE)
        self.measured.append((self.space.validate(arch_data), float(metrics["latency_ms"])))
        if self.predictor is None:
            self.predictor = self._cached() if len(self.measured) == 1 else None
        if self.predictor is None and len(self.measured) >= self.after:
            self._calibrate()

    def _key(self) -> dict[str, Any]:
        """What a predictor is of: one space (and version of its models), task shape, runtime
        setting and machine."""
        return {
            "models": MODELS_VERSION, "space": self.space.name, "preset": self.space.preset, "shape": vars(self.shape), "runtime": self.settings.runtime,
            "batch_size": self.settings.batch_size, "threads": self.settings.threads, "machine": self.machine,
        }  # fmt: skip

    def _cached(self) -> LatencyPredictor | None:
        """A predictor an earlier job calibrated for this key, if any (the newest)."""
        key = self._key()
        for artifact in self.store.artifacts_of_kind(ArtifactKind.LATENCY_PREDICTOR):
            if artifact.meta.get("key") == key and artifact.job_id != self.job_id:
                predictor = LatencyPredictor.from_dict(artifact.meta["predictor"], space=self.space)
                message = (
                    f"latency: predicting from the predictor job {artifact.job_id} calibrated on {predictor.calibrated_on} candidates on this machine "
                    f"({self.settings.runtime}, batch {self.settings.batch_size}, {self.settings.threads} thread(s)); the front is measured at the end"
                )
                self.store.add_event(self.job_id, EventKind.LATENCY_PREDICTOR, message, {"from_job": artifact.job_id, "calibrated_on": predictor.calibrated_on})
                return predictor
        return None

    def _calibrate(self) -> None:
        archs, latencies = [a for a, _ in self.measured], [ms for _, ms in self.measured]
        self.predictor = LatencyPredictor.fit(self.space, self.shape, archs, latencies, settings=self.settings, machine=self.machine or "unknown")
        checked = cross_validated_error(self.space, self.shape, archs, latencies, self.predictor)
        self.store.add_artifact(self.job_id, ArtifactKind.LATENCY_PREDICTOR, "", {"key": self._key(), "predictor": self.predictor.to_dict(), "cross_validated": checked.to_dict()})
        message = (
            f"latency: a predictor calibrated on the first {len(archs)} measured candidates (cross-validated Kendall tau {checked.kendall_tau:.2f}, "
            f"mean relative error {100 * checked.mean_relative_error:.1f}%) predicts the others; the front is measured at the end"
        )
        self.store.add_event(self.job_id, EventKind.LATENCY_PREDICTOR, message, {"calibrated_on": len(archs), "cross_validated": checked.to_dict()})
        logger.info("job %d: %s", self.job_id, message)

    def measure_front(self, front: Callable[[], Sequence[CandidateRecord]], measure: Callable[[list[dict[str, Any]]], list[dict[str, Any] | str]]) -> PredictorError | None:
        """Measure the predicted candidates on the front (`front()`: the current front's
        candidate records; `measure(archs)`: their measured latency metrics, or why not) until
        none is left; returns the predictions' error against those measurements."""
        predicted, measured = [], []
        for _ in range(MAX_FRONT_ROUNDS):
            todo: list[CandidateRecord] = [c for c in front() if c.metrics.get(PREDICTED)]
            if not todo:
                break
            for candidate, answer in zip(todo, measure([c.arch for c in todo]), strict=True):
                if isinstance(answer, str):  # unmeasured, it keeps its prediction (said in the event)
                    logger.warning("job %d: measuring candidate %d's latency failed: %s", self.job_id, candidate.seq, answer)
                    return None
                predicted.append(float(candidate.metrics["latency_ms"]))
                measured.append(float(answer["latency_ms"]))
                self.store.amend_result(candidate.id, {**answer, PREDICTION: predicted[-1]}, drop=(PREDICTED,), claim=self.claim)
        if not measured:
            return None
        error = prediction_error(predicted, measured) if len(measured) >= 2 else None
        said = f": predicted against measured, Kendall tau {error.kendall_tau:.2f}, mean relative error {100 * error.mean_relative_error:.1f}%" if error else ""
        message = f"latency: measured the {len(measured)} predicted candidate{'s' * (len(measured) != 1)} of the front{said}"
        self.store.add_event(self.job_id, EventKind.LATENCY_PREDICTOR, message, {"measured": len(measured), "error": error.to_dict() if error else None})
        return error


def cross_validated_error(space: SearchSpace, shape: TaskShape, archs: Sequence[Any], latencies: Sequence[float], fitted: LatencyPredictor) -> PredictorError:
    """The predictor's error on measurements it was not calibrated on: each fold predicted by a
    predictor fitted on the others (folds too small to fit on are predicted by `fitted`)."""
    from nas.export.latency_model import MIN_MEASUREMENTS

    n = len(archs)
    folds = np.array_split(np.arange(n), min(CROSS_VALIDATION_FOLDS, n))
    predicted = np.empty(n)
    for fold in folds:
        rest = [i for i in range(n) if i not in set(fold)]
        model = (
            LatencyPredictor.fit(space, shape, [archs[i] for i in rest], [latencies[i] for i in rest], settings=fitted.settings, machine=fitted.machine)
            if len(rest) >= MIN_MEASUREMENTS else fitted
        )  # fmt: skip
        predicted[fold] = model.predict_many([archs[i] for i in fold])
    return prediction_error(predicted, latencies)
