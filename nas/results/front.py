"""A job's candidates as the service shows them, and its Pareto front, read from the store: within
the spec's constraints, with the verified stage's figures where a candidate has them. The service
answers with these rows, and the coordinator's verified stage chooses from the same front
(`verification_choice`), so the two cannot disagree on what the front is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.job.schema import JobSpec
from nas.results.pareto import non_dominated_mask, spread_along
from nas.results.promotion import top_rung_accuracies
from nas.results.verdict import TrainedModel, verified_model
from nas.store import CandidateRecord, CandidateStatus, Store, TrainingRecord, VerificationRecord

Objectives = Sequence[tuple[str, bool]]  # (metric, maximize) pairs, the primary first


@dataclass(frozen=True)
class Verified:
    """A verified candidate: its verification (the first seed's training, whose weights export)
    and every seed's training (none for a verification recorded before seeds were)."""

    record: VerificationRecord
    trainings: tuple[TrainingRecord, ...] = ()

    def model(self) -> TrainedModel:
        """Its figures as the verdict weighs them: the mean over its seeds, with their uncertainty."""
        return verified_model(self.record, self.trainings)


def verified_candidates(store: Store, job_id: int, candidate_id: int | None = None) -> dict[int, Verified]:
    """{candidate id: Verified} for the job's verified candidates (only `candidate_id`'s, if given)."""
    records = [v for v in store.verifications(job_id) if candidate_id is None or v.candidate_id == candidate_id]
    if not records:
        return {}
    runs: dict[int, list[TrainingRecord]] = {}
    for training in store.trainings(job_id):
        if training.candidate_id is not None:
            runs.setdefault(training.candidate_id, []).append(training)
    return {v.candidate_id: Verified(v, tuple(sorted(runs.get(v.candidate_id, []), key=lambda t: t.seed))) for v in records}


def candidate_row(c: CandidateRecord, verifications: Mapping[int, Verified] | None = None, verified_accuracy: bool = False) -> dict[str, Any]:
    """A candidate as the service shows it, with its verified stage's figures where it has them
    (accuracies: the mean over its seeds, the test one with its 95% half-width where its test
    split's size is known); `verified_accuracy`: its metrics' accuracy is the verified one."""
    verified = (verifications or {}).get(c.id)
    metrics = dict(c.metrics)
    shown = None
    if verified is not None:
        record, model = verified.record, verified.model()
        shown = {
            "val_accuracy": model.val_accuracy, "test_accuracy": model.accuracy, "half_width": model.half_width if verified.trainings else None,
            "seeds": len(model.test_accuracies), "search_accuracy": c.accuracy,
            "init": record.init, "best_epoch": record.best_epoch, "epochs_trained": record.epochs_trained,
            "epochs": record.epochs, "stopped_early": record.stopped_early, "seconds": record.seconds,
        }  # fmt: skip
        if verified_accuracy:
            metrics["accuracy"] = model.val_accuracy
    return {"candidate": c.seq, "arch_id": c.arch_id, "arch": c.arch, "metrics": metrics, "verified": shown}


def pareto_candidates(store: Store, job_id: int, objectives: Objectives) -> list[CandidateRecord]:
    """The done candidates no other done candidate dominates on `objectives` (candidates lacking
    one of the metrics are left out), best first on the first objective, then the next ones, then
    proposal order. Only the objectives' columns are read for the whole job."""
    if not objectives:
        raise ValueError("objectives: at least one (metric, maximize) pair is needed")
    maximize = [bool(up) for _, up in objectives]
    table = store.done_metric_table(job_id, [metric for metric, _ in objectives])
    front = store.candidates_by_id(table[non_dominated_mask(table[:, 1:], maximize), 0].astype(np.int64).tolist())

    def rank(c: CandidateRecord) -> tuple[float | int, ...]:
        return (*(-getattr(c, m) if up else getattr(c, m) for (m, _), up in zip(objectives, maximize)), c.seq)

    return sorted(front, key=rank)


def front_rows(
    store: Store,
    job_id: int,
    spec: JobSpec,
    objectives: Objectives,
    verifications: Mapping[int, Verified],
    verified: bool = False,
    accuracies: Mapping[int, float] | None = None,
) -> list[dict[str, Any]]:
    """The done candidates that meet the spec's constraints and that no other such candidate
    dominates on `objectives`, as rows, best first on the first objective, then the others, then
    proposal order. `verified`: only the verified candidates, on their verified accuracy;
    `accuracies` ({candidate id: accuracy}): only those candidates, with that accuracy."""
    limits = spec.constraints.limits()
    if not limits and not verified and accuracies is None:
        return [candidate_row(c, verifications) for c in pareto_candidates(store, job_id, objectives)]  # reads only the objectives' columns
    # With constraints the front is that of the feasible candidates: one dominated only by an
    # infeasible candidate belongs on it, so filtering the unconstrained front would be wrong.
    # A candidate lacking a constrained metric cannot be shown to meet it and is left out.
    feasible = feasible_rows(store, job_id, objectives, limits, verifications, verified, accuracies)
    if not feasible:
        return []
    values = np.array([[row["metrics"][m] for m, _ in objectives] for row, _ in feasible], dtype=np.float64)
    mask = non_dominated_mask(values, [up for _, up in objectives])
    front = [(row, seq) for (row, seq), keep in zip(feasible, mask) if keep]
    front.sort(key=lambda item: (*(-item[0]["metrics"][m] if up else item[0]["metrics"][m] for m, up in objectives), item[1]))  # as pareto_candidates orders
    return [row for row, _ in front]


def feasible_rows(
    store: Store,
    job_id: int,
    objectives: Objectives,
    limits: Mapping[str, float],
    verifications: Mapping[int, Verified],
    verified: bool,
    accuracies: Mapping[int, float] | None = None,
) -> list[tuple[dict[str, Any], int]]:
    """(row, seq) of the done candidates that have every objective and meet every limit (only the
    verified ones, on verified accuracy, with `verified`; only those of `accuracies`, on theirs)."""
    done = [c for c in store.candidates(job_id, CandidateStatus.DONE) if (not verified or c.id in verifications) and (accuracies is None or c.id in accuracies)]
    rows = [(candidate_row(c, verifications, verified), c.seq) for c in done]
    if accuracies is not None:
        for (row, _), c in zip(rows, done, strict=True):
            row["metrics"]["accuracy"] = accuracies[c.id]
    return [
        (row, seq)
        for row, seq in rows
        if all(row["metrics"].get(m) is not None for m, _ in objectives)
        and all(row["metrics"].get(m) is not None and row["metrics"][m] <= limit for m, limit in limits.items())
    ]


def verification_choice(store: Store, job_id: int, k: int) -> list[dict[str, Any]]:
    """The `k` candidates the verified stage trains, best first on the primary objective: spread
    along the front by its second objective (its cheapest member, its most accurate, and evenly
    between), so that the stage measures the whole trade-off and not only its accurate end; a
    front shorter than `k` is completed by the other feasible candidates, best first. With one
    objective, the k best. With successive halving (`rungs`), the candidates of the highest rung,
    on that rung's accuracy."""
    spec = JobSpec.from_stored(store.get_job(job_id).spec)
    verifications = verified_candidates(store, job_id)
    objectives = spec.pareto_objectives()
    top_rung = top_rung_accuracies(store.rung_scores(job_id), at_least=k) or None
    front = front_rows(store, job_id, spec, objectives, verifications, accuracies=top_rung)
    if len(objectives) > 1:
        cost, up = objectives[1]
        picked = {front[i]["candidate"] for i in spread_along([-row["metrics"][cost] if up else row["metrics"][cost] for row in front], k)}
        chosen = [row for row in front if row["candidate"] in picked]
    else:
        chosen = front[:k]
    primary, up = objectives[0]
    taken = {row["candidate"] for row in chosen}
    rest = [(row, seq) for row, seq in feasible_rows(store, job_id, objectives, spec.constraints.limits(), verifications, False, top_rung) if row["candidate"] not in taken]
    rest.sort(key=lambda item: (-item[0]["metrics"][primary] if up else item[0]["metrics"][primary], item[1]))
    return (chosen + [row for row, _ in rest])[:k]
