"""What the service answers, typed: the shapes of the JSON the REST API returns for jobs,
candidates, fronts, events, exports and datasets. The API declares them as response models, so
its OpenAPI description (/docs) shows every answer and an answer that drifts from its model fails
instead of reaching a client. (The service still builds these answers as dicts, which the API
checks against the models; the client and the CLI read the same fields by name.)

Metrics are keyed by the catalogue's names (`nas.job.metrics`): accuracy a fraction from 0 to 1,
params and flops counts, latency_ms milliseconds per call, and each metric's details beside it
(latency_low_ms, latency_machine, ...).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nas.datasets import Dataset
from nas.results.analysis import HypervolumePoint, Importance, SupernetPoint

Metrics = dict[str, float | str | None]  # a candidate's metrics by catalogue name (latency_machine is a machine's description)

__all__ = [
    "Analysis", "CandidateBrief", "CandidateDetail", "CandidateRow", "ComputeSummary", "Dataset", "DatasetDeleted", "DeletedJob", "EventRow", "ExportResult", "Health", "JobSummary", "Me",
    "ReferenceRow", "VerifiedFigures",
]  # fmt: skip


class _Answer(BaseModel):
    # An answer with a key its model lacks fails (in the tests, before a client sees it).
    model_config = ConfigDict(extra="forbid")


class VerifiedFigures(_Answer):
    """A verified candidate's standalone training: the mean over its seeds."""

    val_accuracy: float = Field(description="Validation accuracy at the best epoch, a fraction.")
    test_accuracy: float = Field(description="Test accuracy at that epoch, a fraction.")
    half_width: float | None = Field(description="The test accuracy's 95% half-width over its seeds and test split; null before seeds were recorded.")
    seeds: int
    search_accuracy: float | None = Field(description="Its accuracy in the search (inherited weights).")
    init: str = Field(description="inherited (from the supernet) or scratch.")
    best_epoch: int
    epochs_trained: int
    epochs: int
    stopped_early: bool
    seconds: float


class CandidateBrief(_Answer):
    """A candidate as a job's summary names it (its best): number, architecture id and metrics."""

    candidate: int = Field(description="Its number in the job (1, 2, 3 …).")
    arch_id: str
    metrics: Metrics
    verified: VerifiedFigures | None = Field(description="The verified stage's figures; null if it was not verified.")


class CandidateRow(CandidateBrief):
    """A candidate on a front or in a list, with its architecture."""

    arch: dict[str, Any]


class CandidateDetail(CandidateRow):
    """A candidate as the candidates list shows it."""

    features: dict[str, float] | None = Field(description="The architecture's summary numbers (depth, widths, operation shares); null for an arch the space no longer accepts.")
    status: str = Field(description="proposed, running, done or failed.")
    attempt: int
    error: str | None
    eval_seconds: float | None
    proposed_at: str | None
    finished_at: str | None


class GraphNode(_Answer):
    id: str
    op: str
    kind: str
    layer: int = Field(description="One below the deepest node feeding it, for drawing.")


class Graph(_Answer):
    nodes: list[GraphNode]
    edges: list[list[str]]


class CandidateWithGraph(CandidateDetail):
    graph: Graph


class EventRow(_Answer):
    id: int
    at: str | None
    kind: str
    message: str
    data: dict[str, Any]


class ReferenceFigures(_Answer):
    test_accuracy: float
    half_width: float | None
    val_accuracy: float
    seeds: int
    test_accuracies: list[float]


class ReferenceRow(_Answer):
    """A plain-family member trained beside the job's verified candidates."""

    name: str
    arch_id: str
    arch: dict[str, Any]
    metrics: Metrics
    trained: ReferenceFigures | None = Field(description="Once trained: its accuracies over its seeds.")


class MetricDisplay(_Answer):
    name: str
    label: str
    unit: str
    style: str
    axis_title: str
    log_axis: bool
    description: str
    details: list[str]


class RungState(_Answer):
    rung: int
    fidelity: str
    scored: int
    failed: int
    best_accuracy: float | None
    seconds: float


class StageComputeRow(_Answer):
    """One stage's compute (`nas.search.compute.StageCompute` as the summary shows it)."""

    stage: str
    cpus: float
    minutes: float
    cpu_minutes: float
    running: bool


class ComputeSummary(_Answer):
    stages: list[StageComputeRow]
    cpu_minutes: float = Field(description="CPUs held times wall minutes, all stages.")
    budget: float | None = Field(description="budget.cpu_minutes, if set.")


class VerifyState(_Answer):
    state: str = Field(description="pending, verifying, done or not run.")
    verified: int
    top_k: int
    message: str | None


class SupernetState(_Answer):
    state: str = Field(description="pending, starting, training or trained.")
    message: str
    progress: dict[str, Any] | None
    at: str | None
    health: dict[str, Any] | None


class Eta(_Answer):
    stage: str
    seconds: float | None = Field(description="Left at the pace so far; null until the pace is known.")


class JobSummary(_Answer):
    """What `nas status` and GET /jobs/{id} show of a job."""

    id: int
    name: str
    owner: str | None
    status: str = Field(description="queued, running, succeeded, failed or cancelled.")
    space: str
    preset: str
    task: str | dict[str, Any]
    strategy: str
    objectives: list[dict[str, str]]
    constraints: dict[str, float]
    budget: dict[str, Any]
    counts: dict[str, int]
    candidates_done: int
    best: CandidateBrief | None = Field(description="The front's first row: highest on the primary objective within the constraints.")
    best_verified: CandidateBrief | None = Field(description="The verified front's first row, on verified accuracy.")
    metric_display: dict[str, MetricDisplay]
    score_source: str
    exportable: bool
    chance_accuracy: float | None
    rungs: list[RungState] | None
    verify: VerifyState | None
    compute: ComputeSummary | None
    verdict: dict[str, Any] | None = Field(description="The verified candidates against the plain family, as the verified stage stated it.")
    eta: Eta | None
    supernet: SupernetState | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    cancel_requested: bool
    waiting: str | None = Field(description="Why the job does not move, when it does not.")


class DeletedJob(_Answer):
    id: int
    name: str
    status: str
    deleted: bool
    files_removed: int
    files_left: int


class JobCounts(_Answer):
    queued: int
    running: int


class Health(_Answer):
    status: str
    coordinators: int
    jobs: JobCounts


class Me(_Answer):
    name: str | None = Field(description="The user's name; null for the server's token.")
    admin: bool


class ExportResult(_Answer):
    out_dir: str = Field(description="The export's directory, relative to the export root.")
    artifact_id: int = Field(description="GET /artifacts/{artifact_id} downloads it.")
    candidate: int
    format: str
    files: list[str]
    arch_id: str
    metrics: dict[str, Any]
    latency: dict[str, Any] | None


class Importances(_Answer):
    target: str
    features: list[Importance]


class Analysis(_Answer):
    objectives: list[str]
    hypervolume: list[HypervolumePoint]
    importance: Importances
    supernet: list[SupernetPoint]


class DatasetDeleted(_Answer):
    id: str
    name: str
    format: str
    sha256: str
    bytes: int
    train_examples: int | None
    text_column: str | None
    label_column: str | None
    uploaded_at: str
    owner: str | None
    deleted: bool
