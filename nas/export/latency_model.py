"""Predicting an architecture's latency from its operators, calibrated on measured candidates.

Measuring a candidate (`nas.export.latency.measure_latency`: export, warm-up, timed calls) takes
about a second; a job that scores thousands of candidates predicts most of them instead, as HAT
(Wang et al., 2020) does with a latency predictor per device trained on measurements. The
predictor is one per (space, task shape, runtime settings, machine): a latency is of all four.

The model is linear and non-negative, in the spirit of nn-Meter (Zhang et al., 2021), which sums
the predicted latencies of a model's kernels: at batch 1 on a CPU, a model's time is a fixed cost
per call, a cost per operator (the runtime's dispatch: many small operators cost more than their
FLOPs say), a cost per FLOP that differs between kinds of operator (dense projections run near
the CPU's peak, the small batched products of attention heads and the convolutions far below
it), and a cost per element written (norms, activations, softmax, residual additions). Every
number comes from the space's analytic cost tally (`SearchSpace.tally`), so a prediction takes
microseconds and builds no model. The coefficients are non-negative (each is a time per unit of
work) and fitted by least squares on relative errors, so that small and large models count alike.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls
from scipy.stats import kendalltau

from nas.export.latency import Latency, LatencySettings
from nas.job.formats import MIN_LATENCY_CALIBRATION
from search_spaces import Architecture, ImageTaskShape, SearchSpace, TaskShape, TextTaskShape, get_space
from search_spaces.tally import KINDS

MIN_MEASUREMENTS = MIN_LATENCY_CALIBRATION  # fewer leave the nine coefficients poorly determined (docs/benchmarks/latency_predictor.md)
SETTINGS_FIELDS = ("runtime", "batch_size", "threads")  # what a latency depends on; the others only say how well it is known
# One column per unit of work, in units that keep the columns of similar size.
FEATURES: tuple[str, ...] = ("calls", *(f"{kind} operators" for kind in KINDS), *(f"{kind} MFLOPs" for kind in KINDS if kind != "norm"), "M outputs")


@dataclass(frozen=True)
class PredictorError:
    """How well predictions rank and match measurements of the same architectures."""

    kendall_tau: float
    mean_relative_error: float  # mean of |predicted - measured| / measured
    n: int

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def operator_features(space: SearchSpace, arch: Architecture, shape: TaskShape, batch_size: int = 1) -> np.ndarray:
    """The units of work of one call on a batch of `batch_size`, shape (len(FEATURES),), in the
    order of FEATURES: 1 (the call), operators by kind, MFLOPs by kind, million elements written."""
    tally = space.tally(arch, shape)
    per_example = [tally.kind_flops[kind] / 1e6 for kind in KINDS if kind != "norm"] + [sum(tally.outputs.values()) / 1e6]
    return np.array([1.0, *(float(tally.operators[kind]) for kind in KINDS), *(batch_size * x for x in per_example)])


def prediction_error(predicted_ms: Sequence[float] | np.ndarray, measured_ms: Sequence[float] | np.ndarray) -> PredictorError:
    """Kendall's tau and the mean relative error of predictions (n,) against measurements (n,)."""
    predicted, measured = np.asarray(predicted_ms, dtype=np.float64), _latencies(measured_ms, "measured")
    if predicted.shape != measured.shape:
        raise ValueError(f"measured: {len(measured)} latencies for {len(predicted)} predictions")
    if len(measured) < 2:
        raise ValueError(f"measured: {len(measured)} latencies; a rank correlation needs at least 2")
    tau = float(kendalltau(predicted, measured).statistic)
    return PredictorError(kendall_tau=tau, mean_relative_error=float(np.mean(np.abs(predicted - measured) / measured)), n=len(measured))


class LatencyPredictor:
    """Milliseconds per call of an architecture of `space` on `shape`, in one runtime setting
    on one machine, from its operators (see the module's docstring)."""

    def __init__(self, space: SearchSpace, shape: TaskShape, settings: LatencySettings, machine: str, coefficients: np.ndarray, calibrated_on: int):
        if coefficients.shape != (len(FEATURES),):
            raise ValueError(f"coefficients: shape {coefficients.shape}, expected ({len(FEATURES)},), one per feature {FEATURES}")
        self.space, self.shape, self.settings, self.machine = space, shape, settings, machine
        self.coefficients = coefficients  # (len(FEATURES),): ms per unit of each feature
        self.calibrated_on = calibrated_on

    # ---- calibration ----
    @classmethod
    def fit(
        cls, space: SearchSpace, shape: TaskShape, archs: Sequence[Architecture], latencies_ms: Sequence[float], *, settings: LatencySettings, machine: str
    ) -> LatencyPredictor:
        """Calibrated on `archs` measured at `latencies_ms` (one each, in ms) with `settings` on
        `machine` (a fingerprint such as `nas.export.latency.this_machine()`)."""
        measured = _latencies(latencies_ms, "latencies_ms")
        if len(measured) != len(archs):
            raise ValueError(f"latencies_ms: {len(measured)} latencies for {len(archs)} archs")
        if len(archs) < MIN_MEASUREMENTS:
            raise ValueError(f"archs: {len(archs)} measured architectures; calibrating a latency predictor needs at least {MIN_MEASUREMENTS}")
        features = np.stack([operator_features(space, arch, shape, settings.batch_size) for arch in archs])  # (n, len(FEATURES))
        # Least squares on relative errors: each row divided by its measurement. Columns scaled to
        # unit mean first, so that no unit of work is favoured for being counted in large numbers.
        scale = np.where(features.mean(axis=0) > 0, features.mean(axis=0), 1.0)
        scaled, _ = nnls(features / scale / measured[:, None], np.ones(len(measured)))
        return cls(space, shape, settings, machine, scaled / scale, len(archs))

    @classmethod
    def from_measurements(cls, space: SearchSpace, shape: TaskShape, measured: Sequence[tuple[Architecture, Latency]], *, machine: str) -> LatencyPredictor:
        """Calibrated on (architecture, measured latency) pairs, all in one runtime setting."""
        settings = {tuple(getattr(latency, name) for name in SETTINGS_FIELDS) for _, latency in measured}
        if len(settings) > 1:
            raise ValueError(f"measured: latencies of several (runtime, batch_size, threads) settings {sorted(settings)}; a predictor is of one")
        if not settings:
            raise ValueError(f"measured: none; calibrating a latency predictor needs at least {MIN_MEASUREMENTS}")
        runtime, batch_size, threads = settings.pop()
        return cls.fit(
            space, shape, [arch for arch, _ in measured], [latency.ms for _, latency in measured],
            settings=LatencySettings(runtime=runtime, batch_size=batch_size, threads=threads), machine=machine,
        )  # fmt: skip

    # ---- use ----
    def predict(self, arch: Architecture) -> float:
        """Predicted milliseconds per call of `arch`."""
        return float(operator_features(self.space, arch, self.shape, self.settings.batch_size) @ self.coefficients)

    def predict_many(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Predicted milliseconds per call, shape (len(archs),)."""
        return np.array([self.predict(arch) for arch in archs])

    def error(self, archs: Sequence[Architecture], measured_ms: Sequence[float]) -> PredictorError:
        """How the predictions for `archs` rank and match their measurements (ms, one each)."""
        if len(measured_ms) != len(archs):
            raise ValueError(f"measured: {len(measured_ms)} latencies for {len(archs)} archs")
        return prediction_error(self.predict_many(archs), measured_ms)

    def terms(self, arch: Architecture) -> dict[str, float]:
        """The prediction for `arch` split into its features' shares (ms each; they sum to it)."""
        features = operator_features(self.space, arch, self.shape, self.settings.batch_size)
        return {name: float(x * c) for name, x, c in zip(FEATURES, features, self.coefficients, strict=True)}

    # ---- storage ----
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what the predictor is of (space, task shape, settings, machine) and its
        coefficients (ms per unit of each feature)."""
        return {
            "space": self.space.name,
            "preset": self.space.preset,
            "task_shape": {"kind": "text" if isinstance(self.shape, TextTaskShape) else "image", **dataclasses.asdict(self.shape)},
            "settings": {name: getattr(self.settings, name) for name in SETTINGS_FIELDS},
            "machine": self.machine,
            "coefficients": dict(zip(FEATURES, map(float, self.coefficients), strict=True)),
            "calibrated_on": self.calibrated_on,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], space: SearchSpace | None = None) -> LatencyPredictor:
        """The predictor `to_dict` wrote; `space` when the one it was fitted for had overrides
        (only its name and preset are stored)."""
        space = space or get_space(data["space"], data["preset"])
        if (space.name, space.preset) != (data["space"], data["preset"]):
            raise ValueError(f"space: {space.name!r} preset {space.preset!r} given for a predictor of {data['space']!r} preset {data['preset']!r}")
        shape_fields = {k: v for k, v in data["task_shape"].items() if k != "kind"}
        shape: TaskShape = TextTaskShape(**shape_fields) if data["task_shape"]["kind"] == "text" else ImageTaskShape(**shape_fields)
        coefficients = data["coefficients"]
        if set(coefficients) != set(FEATURES):
            raise ValueError(f"coefficients: features {sorted(coefficients)}, expected {sorted(FEATURES)}")
        return cls(space, shape, LatencySettings(**data["settings"]), data["machine"], np.array([coefficients[name] for name in FEATURES]), data["calibrated_on"])


def _latencies(values: Sequence[float] | np.ndarray, field: str) -> np.ndarray:
    """`values` as an array (n,) of positive, finite milliseconds."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or not all(math.isfinite(x) and x > 0 for x in array):
        raise ValueError(f"{field}: latencies must be a list of positive, finite milliseconds")
    return array
