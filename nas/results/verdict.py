"""Did the search beat the plain family? The verified stage trains a job's chosen candidates and
members of the space's plain family the same way (same epochs, seeds and test split); this module
compares them on the test split and says so in one sentence, with its uncertainty.

The comparison is at equal accuracy, where architecture search makes its case (HAT,
LiteTransformerSearch, FlexiBERT): take the most accurate plain member; among the candidates whose
test accuracy is not significantly below it, the cheapest; how many times cheaper it is, with an
interval. A candidate *matches* a member when it is not significantly less accurate (their
difference in test accuracy is above minus its 95% half-width) and at most MATCH_POINTS below it
(wide intervals, from few seeds or a small test split, must not let a much worse model match);
the search *beat* the family when a matching candidate is cheaper beyond the measurements'
uncertainty (for latency, the ratio's interval from both intervals lies above 1; parameter and FLOP
counts are exact), and no smaller plain member is as accurate as that candidate and as cheap (plain
members tied within noise are common on small test splits).

A model's test accuracy is the mean over its seeds; its uncertainty combines the spread between
seeds (when there are several) with the binomial error of a test split of n examples:
se² = var(seeds) / k + p (1 − p) / n.

Beside the verdict, the two fronts as wholes: the hypervolume of (test accuracy, cost) that the
verified candidates dominate against the one the references dominate, in one box, as a ratio
with a bootstrap interval (each model's accuracy and latency drawn from their uncertainties).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from nas.job.metrics import metric
from nas.store import Store, TrainingRecord, VerificationRecord

Z_95 = 1.959963984540054
MATCH_POINTS = 0.01  # of test accuracy: the furthest below a reference a match may lie
WIDE_POINTS = 0.02  # a half-width beyond this: the verdict suggests more seeds (verify.seeds)
COSTS = ("latency_ms", "params", "flops")  # what "cheaper" can mean, in the order a verdict prefers
_LATENCY_BOUNDS = ("latency_low_ms", "latency_high_ms")


@dataclass(frozen=True)
class TrainedModel:
    """A model the verified stage trained: a candidate ("candidate 12") or a reference ("plain-M")."""

    label: str
    is_reference: bool
    test_accuracies: tuple[float, ...]  # one per seed
    test_examples: int
    metrics: dict[str, float]  # params, flops, latency_ms (and its interval), as the evaluators measured them
    candidate: int | None = None  # its number in the job, for a candidate
    val_accuracies: tuple[float, ...] = ()  # one per seed, where recorded

    @property
    def val_accuracy(self) -> float | None:
        return statistics.fmean(self.val_accuracies) if self.val_accuracies else None

    @property
    def accuracy(self) -> float:
        return statistics.fmean(self.test_accuracies)

    @property
    def standard_error(self) -> float:
        p, n, k = self.accuracy, max(1, self.test_examples), len(self.test_accuracies)
        between_seeds = statistics.variance(self.test_accuracies) / k if k > 1 else 0.0
        return math.sqrt(between_seeds + p * (1 - p) / n)

    @property
    def half_width(self) -> float:
        """Of the 95% interval of the test accuracy."""
        return Z_95 * self.standard_error

    def accuracy_text(self) -> str:
        """'97.0 ± 0.4%'."""
        return f"{100 * self.accuracy:.1f} ± {100 * self.half_width:.1f}%"

    def cost_bounds(self, cost: str) -> tuple[float, float]:
        """The cost's interval: the measured one for latency, the exact value for counts."""
        value = self.metrics[cost]
        if cost == "latency_ms" and all(b in self.metrics for b in _LATENCY_BOUNDS):
            return self.metrics[_LATENCY_BOUNDS[0]], self.metrics[_LATENCY_BOUNDS[1]]
        return value, value


@dataclass(frozen=True)
class Comparison:
    """At one reference's test accuracy: the cheapest candidate that matches it, if any."""

    reference: str
    candidate: str | None
    ratio: float | None = None  # the reference's cost over the candidate's: above 1, the candidate is cheaper
    ratio_low: float | None = None
    ratio_high: float | None = None

    @property
    def cheaper(self) -> bool:
        return self.ratio_low is not None and self.ratio_low > 1


@dataclass(frozen=True)
class HypervolumeRatio:
    """The verified candidates' hypervolume over the references', in one box of (test accuracy,
    cost): the point estimate and its bootstrap 95% interval."""

    candidates: float
    references: float
    ratio: float
    low: float
    high: float
    draws: int

    @property
    def above(self) -> bool:
        """The candidates' front dominates more, the interval excluding equality."""
        return self.low > 1


@dataclass(frozen=True)
class Verdict:
    beat: bool | None  # None: nothing to compare (no reference or no candidate was trained)
    text: str
    cost: str | None  # the cost metric compared
    comparisons: list[Comparison] = field(default_factory=list)  # most accurate reference first
    hypervolume: HypervolumeRatio | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "beat": self.beat, "text": self.text, "cost": self.cost,
            "comparisons": [_finite(vars(c)) for c in self.comparisons],
            "hypervolume": _finite(vars(self.hypervolume)) if self.hypervolume else None,
        }  # fmt: skip


def _finite(values: dict[str, object]) -> dict[str, object]:
    """JSON has no infinity (a ratio over a zero hypervolume): such a value is written as null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()}


def cost_metric(objectives: Sequence[str], models: Sequence[TrainedModel]) -> str | None:
    """The cost a verdict compares: the job's first cost objective, else latency, else params,
    among those every model has."""
    had = [c for c in COSTS if all(c in m.metrics for m in models)]
    chosen = [o for o in objectives if o in had] + had
    return chosen[0] if chosen else None


def matches(candidate: TrainedModel, reference: TrainedModel) -> bool:
    """Not significantly less accurate on the test split (95%, two-sided), and at most
    MATCH_POINTS below it."""
    half = Z_95 * math.hypot(candidate.standard_error, reference.standard_error)
    difference = candidate.accuracy - reference.accuracy
    return difference > -half and difference >= -MATCH_POINTS


def compare(candidates: Sequence[TrainedModel], reference: TrainedModel, cost: str) -> Comparison:
    """The cheapest candidate matching `reference`, and how many times cheaper it is."""
    matching = [c for c in candidates if matches(c, reference)]
    if not matching:
        return Comparison(reference.label, None)
    best = min(matching, key=lambda c: (c.metrics[cost], -c.accuracy))
    (ref_low, ref_high), (low, high) = reference.cost_bounds(cost), best.cost_bounds(cost)
    return Comparison(reference.label, best.label, reference.metrics[cost] / best.metrics[cost], ref_low / high, ref_high / low)


def undercut(found: TrainedModel, references: Sequence[TrainedModel], cost: str) -> TrainedModel | None:
    """The cheapest plain member that matches `found`'s accuracy and that `found` is not cheaper
    than beyond the measurements' uncertainty, if any: when plain members are tied within noise,
    beating the most accurate of them is no win if a smaller one is as good and as cheap."""
    _, high = found.cost_bounds(cost)
    rivals = [r for r in references if matches(r, found) and r.cost_bounds(cost)[0] / high <= 1]
    return min(rivals, key=lambda r: r.metrics[cost]) if rivals else None


def _as_cheap(rival: TrainedModel, found: TrainedModel, cost: str) -> str:
    """'1.56× faster', or 'not measurably slower' where the rival's figure is the higher one."""
    ratio = found.metrics[cost] / rival.metrics[cost]
    return f"{ratio:.2f}× {_cheaper_word(cost)}" if ratio > 1 else f"not measurably {_dearer_word(cost)}"


def verdict(models: Sequence[TrainedModel], objectives: Sequence[str], measured_how: str = "") -> Verdict:
    """The job's verdict from its trained candidates and references; `measured_how` says what a
    latency is of ('onnxruntime, batch 1, 1 thread')."""
    candidates = [m for m in models if not m.is_reference]
    references = sorted((m for m in models if m.is_reference), key=lambda m: -m.accuracy)
    if not references or not candidates:
        missing = "no plain-family member" if not references else "no candidate"
        return Verdict(None, f"no verdict: {missing} was trained in the verified stage", None)
    cost = cost_metric(objectives, models)
    if cost is None:
        return Verdict(None, "no verdict: the trained models do not share a cost (params, FLOPs or latency) to compare", None)
    comparisons = [compare(candidates, reference, cost) for reference in references]
    top, first = references[0], comparisons[0]
    shown = metric(cost)
    if first.candidate is None:
        best = max(candidates, key=lambda c: c.accuracy)
        fronts = hypervolume_ratio(candidates, references, cost)
        return Verdict(
            False,
            f"no verified candidate matches {top.label}'s test accuracy ({top.accuracy_text()}; the most accurate, {best.label}, has {best.accuracy_text()}): "
            "the search did not beat the plain family" + _wide(models) + _fronts(fronts, cost),
            cost, comparisons, fronts,
        )  # fmt: skip
    found = next(c for c in candidates if c.label == first.candidate)
    assert first.ratio is not None and first.ratio_low is not None and first.ratio_high is not None
    how = f"; {measured_how}" if cost == "latency_ms" and measured_how else ""
    figures = f"{shown.format(found.metrics[cost])} against {shown.format(top.metrics[cost])}{how}"
    if first.ratio >= 1:
        low, high, ratio = first.ratio_low, first.ratio_high, f"{first.ratio:.2f}× {_cheaper_word(cost)}"
    else:  # said the other way round, its interval too
        low, high, ratio = 1 / first.ratio_high, 1 / first.ratio_low, f"{1 / first.ratio:.2f}× {_dearer_word(cost)}"
    interval = f", 95% interval {low:.2f}–{high:.2f}×" if low != high else ""
    ratio = f"{ratio} ({figures}{interval})"
    others = [f"{c.reference}'s, {c.candidate} is {c.ratio:.2f}× {_cheaper_word(cost)}" for c in comparisons[1:] if c.candidate is not None and c.cheaper]
    also = f"; at {others[0]}" if others else ""
    rival = undercut(found, references[1:], cost)  # the most accurate member is compared above
    but = f"; but {rival.label} ({rival.accuracy_text()}) is as accurate as {found.label} and {_as_cheap(rival, found, cost)}" if rival is not None else ""
    beat = first.cheaper and rival is None
    ending = "the search beat the plain family" if beat else "the search did not beat the plain family"
    text = f"at the test accuracy of {top.label} ({top.accuracy_text()}), {found.label} ({found.accuracy_text()}) is {ratio}{also}{but}: {ending}"
    fronts = hypervolume_ratio(candidates, references, cost)
    return Verdict(beat, text + _wide(models) + _fronts(fronts, cost), cost, comparisons, fronts)


BOOTSTRAP_DRAWS = 2000


def hypervolume_ratio(candidates: Sequence[TrainedModel], references: Sequence[TrainedModel], cost: str, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> HypervolumeRatio:
    """The candidates' hypervolume of (test accuracy, `cost`) over the references', in the box
    spanned by every model's point estimates (widened by a tenth on each side, so that the
    worst models still dominate a little), with a bootstrap interval: each draw takes every
    model's accuracy from a normal of its standard error and, for latency, its cost from a normal
    whose 95% interval is the measured one (exact counts stay fixed)."""
    import numpy as np

    from nas.results.analysis import hypervolume_in_box

    models = [*candidates, *references]
    centre = np.array([[m.accuracy, m.metrics[cost]] for m in models])
    spread = np.array([[m.standard_error, (m.cost_bounds(cost)[1] - m.cost_bounds(cost)[0]) / (2 * Z_95)] for m in models])
    low, high = centre.min(axis=0), centre.max(axis=0)
    # The usual reference point: a tenth of the span beyond the worst value on each axis.
    margin = np.where(high > low, (high - low) / 10, np.abs(high) / 10 + 1e-12)
    box_low, box_high, maximize = low - margin, high + margin, [True, False]
    split = len(candidates)

    def both(points: np.ndarray) -> tuple[float, float]:
        return hypervolume_in_box(points[:split], maximize, box_low, box_high), hypervolume_in_box(points[split:], maximize, box_low, box_high)

    ours, theirs = both(centre)
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(draws):
        a, b = both(centre + rng.standard_normal(centre.shape) * spread)
        ratios.append(a / b if b > 0 else math.inf)
    ratios.sort()  # order statistics: a draw whose references dominate nothing is an infinite ratio, which quantiles cannot interpolate
    low_ratio, high_ratio = float(ratios[int(0.025 * (draws - 1))]), float(ratios[int(round(0.975 * (draws - 1)))])
    return HypervolumeRatio(ours, theirs, ours / theirs if theirs > 0 else math.inf, low_ratio, high_ratio, draws)


def _fronts(fronts: HypervolumeRatio, cost: str) -> str:
    """'; front against front, the candidates' hypervolume of (test accuracy, latency) is 1.12× the
    plain family's (95% interval 0.95–1.30)'."""
    def shown(value: float) -> str:
        return f"{value:.2f}" if math.isfinite(value) else "∞"

    return (
        f"; front against front, the candidates' hypervolume of (test accuracy, {metric(cost).label}) is {shown(fronts.ratio)}× the plain family's "
        f"(95% interval {shown(fronts.low)}–{shown(fronts.high)})"
    )


def _wide(models: Sequence[TrainedModel]) -> str:
    """A note when the accuracies are known too loosely to tell models apart."""
    widest = max(models, key=lambda m: m.half_width)
    if widest.half_width <= WIDE_POINTS:
        return ""
    return f" (test accuracies known to ±{100 * widest.half_width:.1f} points at worst, {widest.label}'s: a larger test split, or more seeds with verify.seeds, would narrow them)"


def _cheaper_word(cost: str) -> str:
    return {"latency_ms": "faster", "params": "smaller", "flops": "cheaper in FLOPs"}.get(cost, "cheaper")


def _dearer_word(cost: str) -> str:
    return {"latency_ms": "slower", "params": "larger", "flops": "costlier in FLOPs"}.get(cost, "costlier")


def trained_models(store: Store, job_id: int) -> list[TrainedModel]:
    """The job's verified candidates and trained references, from the store (a candidate
    verified before trainings were recorded counts its verification as its one seed)."""
    trainings = store.trainings(job_id)
    by_candidate: dict[int, list[TrainingRecord]] = {}
    by_reference: dict[int, list[TrainingRecord]] = {}
    for t in trainings:
        (by_candidate.setdefault(t.candidate_id, []) if t.candidate_id is not None else by_reference.setdefault(t.reference_id or 0, [])).append(t)
    models = []
    for verification in store.verifications(job_id):
        candidate = store.get_candidate(verification.candidate_id)
        models.append(verified_model(verification, by_candidate.get(candidate.id, []), f"candidate {candidate.seq}", _costs(candidate.metrics), candidate.seq))
    for reference in store.references(job_id):
        runs = by_reference.get(reference.id, [])
        if runs:
            val = tuple(t.val_accuracy for t in runs)
            models.append(TrainedModel(reference.name, True, tuple(t.test_accuracy for t in runs), runs[0].test_examples, _costs(reference.metrics), val_accuracies=val))
    return models


def verified_model(
    verification: VerificationRecord, runs: Sequence[TrainingRecord], label: str = "", metrics: dict[str, float] | None = None, candidate: int | None = None
) -> TrainedModel:
    """A verified candidate from its seeds' trainings (`runs`); one verified before trainings were
    recorded counts its verification as its one seed, of an unknown test split."""
    accuracies = tuple(t.test_accuracy for t in runs) or (verification.test_accuracy,)
    val = tuple(t.val_accuracy for t in runs) or (verification.val_accuracy,)
    return TrainedModel(label, False, accuracies, runs[0].test_examples if runs else 0, metrics or {}, candidate, val)


def _costs(metrics: dict[str, object]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and k != "accuracy"}
