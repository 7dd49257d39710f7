"""/jobs: submit and follow jobs, read their candidates, fronts and events, export candidates. Thin:
the work is in `nas.service`, shared with the CLI."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition.
import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict, Field

from nas import datasets, service
from nas.api.context import ApiContext, Caller, Context, authorize, visible_dataset, visible_job
from nas.api.errors import MAX_BODY_BYTES, too_large, unprocessable
from nas.documents import DocumentError, load_json, load_yaml
from nas.job.formats import DEFAULT_FINETUNE_LR, EXPORT_FORMATS
from nas.job.metrics import metrics_reference
from nas.read_models import (
    Analysis,
    CandidateDetail,
    CandidateRow,
    CandidateWithGraph,
    DeletedJob,
    EventRow,
    ExportResult,
    JobSummary,
    ReferenceRow,
)
from nas.store import CANDIDATE_STATUSES, JOB_STATUSES, JobRecord

DEFAULT_PAGE, MAX_PAGE = 20, 500  # a page of summaries costs a few queries per job
YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")  # anything else is read as JSON
_POSITION = re.compile(r"^body:(\d+):(\d+): ")

SPEC_EXAMPLE = {
    "name": "nas-bench-bert-boshnas",
    "space": "flexibert",
    "preset": "nas-bench-bert",
    "task": "nas-bench-bert",
    "objectives": [{"metric": "accuracy", "goal": "maximize"}, {"metric": "params", "goal": "minimize"}],
    "strategy": "boshnas",
    "budget": {"candidates": 50},
    "seed": 0,
}
_SPEC_BODY = {"$ref": "#/components/schemas/JobSpec"}  # nas.api.docs adds the schema
_SPEC_CONTENT = {"application/json": {"schema": _SPEC_BODY, "example": SPEC_EXAMPLE}, **{media: {"schema": _SPEC_BODY} for media in YAML_MEDIA_TYPES}}


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    candidate: int = Field(ge=1, description="A done candidate of the job, by its number in the job (1, 2, 3 …).")
    format: Literal[EXPORT_FORMATS] = "pytorch"  # type: ignore[valid-type]
    out: str | None = Field(
        None, min_length=1, description="Directory to write, relative to the server's export root (must not exist or be empty); default a new one. Download it with GET /artifacts/{artifact_id}."
    )
    finetune_epochs: int = Field(0, ge=0, description="Fine-tune the model on the task's training split first, keeping its best epoch on validation.")
    finetune_lr: float = Field(DEFAULT_FINETUNE_LR, gt=0, allow_inf_nan=False, description="Peak learning rate of the fine-tune.")
    keep_worse: bool = Field(False, description="Export a fine-tuned model even if it ends below its starting validation accuracy (else 409).")
    weights: Literal["verified", "inherited"] | None = Field(None, description="verified (the verified stage's trained model) or inherited (from the supernet); default: verified when the candidate was verified.")


router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Depends(authorize)])


def _summary(ctx: ApiContext, job: JobRecord) -> dict[str, Any]:
    return service.public_summary(service.job_summary(ctx.store, job), ctx.data_root)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobSummary, openapi_extra={"requestBody": {"required": True, "content": _SPEC_CONTENT}})
async def submit_job(request: Request, who: Caller, ctx: Context) -> dict[str, Any]:
    """Validate and queue a job: a spec as in examples/*.yaml, in JSON or (with Content-Type
    application/yaml) YAML; 422 lists every problem of the spec. Task files are named
    relative to the server's data directory."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return too_large()
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    language = "YAML" if media in YAML_MEDIA_TYPES else "JSON"
    try:
        text = body.decode("utf-8")
        data = load_yaml(text, "body") if language == "YAML" else load_json(text, "body")
    except UnicodeDecodeError as exc:
        return unprocessable([{"loc": ["body"], "msg": f"not UTF-8 text ({exc.reason} at byte {exc.start})", "type": "value_error"}])
    except json.JSONDecodeError as exc:
        message = f"not valid JSON ({exc.msg}); send YAML with Content-Type: application/yaml"
        return unprocessable([{"loc": ["body"], "msg": message, "type": "value_error"}])
    except DocumentError as exc:  # "body:3:7: not valid YAML (...)" -> "line 3, column 7: ..."
        message = _POSITION.sub(r"line \1, column \2: ", str(exc)).removeprefix("body: ")
        return unprocessable([{"loc": ["body"], "msg": message, "type": "value_error"}])
    if not isinstance(data, dict):
        return unprocessable([{"loc": ["body"], "msg": f"expected a {language} mapping of spec fields, got {type(data).__name__}", "type": "value_error"}])
    task = data.get("task")
    if isinstance(task, dict) and isinstance(task.get("dataset"), str):  # another user's upload reads as unknown
        try:
            visible_dataset(ctx, task["dataset"], who)
        except datasets.DatasetNotFound as exc:
            return unprocessable([{"loc": ["body", "task", "dataset"], "msg": str(exc), "type": "value_error"}])
    return _summary(ctx, service.submit_job(ctx.store, data, data_root=ctx.data_root, owner=who.name))


@router.get("", response_model=list[JobSummary])
def list_jobs(
    response: Response,
    who: Caller,
    ctx: Context,
    status: Literal[JOB_STATUSES] | None = None,  # type: ignore[valid-type]
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Jobs per page.")] = DEFAULT_PAGE,
    after: Annotated[int | None, Query(ge=0, description="Only jobs with a larger id: the X-Next-After header of the previous page.")] = None,
) -> list[dict[str, Any]]:
    """Jobs in id order, a page at a time; `X-Next-After` names the next page when there is one."""
    page = service.list_jobs(ctx.store, status, limit=limit + 1, after=after, owner=who.owner_filter)
    if len(page) > limit:
        page = page[:limit]
        response.headers["X-Next-After"] = str(page[-1].id)
    return [service.public_summary(row, ctx.data_root) for row in service.job_summaries(ctx.store, page)]


@router.get("/{job_id}", response_model=JobSummary)
def get_job(job_id: int, who: Caller, ctx: Context) -> dict[str, Any]:
    return _summary(ctx, visible_job(ctx, job_id, who))


@router.post("/{job_id}/cancel", response_model=JobSummary)
def cancel_job(job_id: int, who: Caller, ctx: Context) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one at its coordinator's next step."""
    visible_job(ctx, job_id, who)
    return _summary(ctx, service.cancel_job(ctx.store, job_id))


@router.delete("/{job_id}", response_model=DeletedJob)
def delete_job(job_id: int, who: Caller, ctx: Context) -> dict[str, Any]:
    """Delete a job that is not running (409 for a running one: cancel it first) with its
    candidates, events and the files it made (checkpoint, verified weights, exports)."""
    visible_job(ctx, job_id, who)
    return service.delete_job(ctx.store, job_id)


@router.get("/{job_id}/candidates", response_model=list[CandidateDetail], description=f"The job's candidates in proposal order.\n\n{metrics_reference()}", responses={200: {"content": {"text/csv": {}}, "description": "JSON rows, or CSV with format=csv"}})
def candidates(
    job_id: int,
    who: Caller,
    ctx: Context,
    status: Literal[CANDIDATE_STATUSES] | None = None,  # type: ignore[valid-type]
    format: Annotated[Literal["json", "csv"], Query(description="json rows, or csv (one column per metric) to download.")] = "json",
) -> Any:
    """The job's candidates in proposal order."""
    visible_job(ctx, job_id, who)
    rows = service.candidate_rows(ctx.store, job_id, status)
    if format == "csv":
        headers = {"Content-Disposition": f'attachment; filename="job-{job_id}-candidates.csv"'}
        return Response(service.candidates_csv(rows), media_type="text/csv", headers=headers)
    return rows


@router.get("/{job_id}/candidates/{candidate}", response_model=CandidateWithGraph)
def candidate(job_id: int, candidate: Annotated[int, FastApiPath(ge=1, description="The candidate's number in the job (1, 2, 3 …).")], who: Caller, ctx: Context) -> dict[str, Any]:
    """One candidate: its row as in the list, and its computation graph (nodes with their
    operation and layer, edges) for drawing."""
    visible_job(ctx, job_id, who)
    return service.candidate_detail(ctx.store, job_id, candidate)


@router.get("/{job_id}/analysis", response_model=Analysis)
def analysis(job_id: int, who: Caller, ctx: Context) -> dict[str, Any]:
    """The job's search analysis: the front's hypervolume after each candidate (share of the
    objective box, 0 to 1), the importance of each architecture feature for the primary
    objective (random-forest shares), the supernet's loss and health per epoch."""
    visible_job(ctx, job_id, who)
    return service.job_analysis(ctx.store, job_id)


@router.get("/{job_id}/references", response_model=list[ReferenceRow])
def references(job_id: int, who: Caller, ctx: Context) -> list[dict[str, Any]]:
    """The job's plain-family references, smallest first: the homogeneous models of its space
    that meet its constraints, scored like its candidates (`metrics`) and trained beside its
    verified candidates (`trained`: test and validation accuracy over the seeds, with the
    test accuracy's 95% half-width, and `first`, the training with the job's seed). Empty
    until the search ends, or with `verify.references: 0`."""
    visible_job(ctx, job_id, who)
    return service.reference_rows(ctx.store, job_id)


@router.get("/{job_id}/events", response_model=list[EventRow])
def events(
    job_id: int,
    who: Caller,
    ctx: Context,
    after: Annotated[int | None, Query(ge=0, description="Only events after the one of this id: the last id a client has, to follow a job.")] = None,
) -> list[dict[str, Any]]:
    """The job's events (started, supernet progress, health checks, verification, errors) in order."""
    visible_job(ctx, job_id, who)
    return service.event_rows(ctx.store, job_id, after)


@router.get("/{job_id}/pareto", response_model=list[CandidateRow], description=f"The done candidates within the job's constraints that no other dominates.\n\n{metrics_reference()}")
def pareto(
    job_id: int,
    who: Caller,
    ctx: Context,
    objectives: Annotated[str | None, Query(description="Comma-separated metrics, e.g. accuracy,params (default: the job's objectives).")] = None,
    verified: Annotated[bool, Query(description="The front of the verified candidates, on their standalone training's validation accuracy.")] = False,
) -> list[dict[str, Any]]:
    """The done candidates within the job's constraints that no other dominates."""
    visible_job(ctx, job_id, who)
    return service.pareto_rows(ctx.store, job_id, objectives.split(",") if objectives is not None else None, verified=verified)


@router.post("/{job_id}/export", status_code=status.HTTP_201_CREATED, response_model=ExportResult)
def export(job_id: int, request: ExportRequest, who: Caller, ctx: Context) -> dict[str, Any]:
    """Write a done candidate as a standalone model under the export root."""
    visible_job(ctx, job_id, who)
    return service.export_to_root(
        ctx.store, job_id, request.candidate, request.format, ctx.export_root, request.out, finetune_epochs=request.finetune_epochs,
        weights=request.weights, finetune_lr=request.finetune_lr, keep_worse=request.keep_worse,
    )  # fmt: skip
