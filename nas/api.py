"""The REST API (FastAPI): submit and follow jobs, query Pareto fronts, export candidates.

Every route but /health needs `Authorization: Bearer <token or key>`, or the session cookie of the
dashboard (`nas.dashboard`, served at / by the same app). The routes are thin: the work is in
`nas.service`, shared with the CLI, whose errors map to HTTP here: NotFound -> 404, Conflict ->
409, BadRequest and invalid specs -> 422 with FastAPI's `{"detail": [{"loc", "msg", "type"}]}`
shape, one entry per problem, `loc` being the field path. Jobs accepted here are run by the
coordinators `serve` starts beside the API, or by a separate `nas coordinator` fleet.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition,
# and the auth dependency refers to a local of create_app.
import hmac
import json
import importlib.metadata
import os
import re
import shutil
import signal
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from nas import access, datasets, service
from nas.artifacts import ArtifactRoot, DirectFiles, is_uri, join
from nas.dashboard import sessions as sessions_mod
from nas.dashboard.routes import add_dashboard
from nas.access import Principal
from nas.service import DEFAULT_FINETUNE_LR, EXPORT_FORMATS, BadRequest, Conflict, NotFound
from nas.documents import DocumentError, load_json, load_yaml
from nas.job.errors import SpecError
from nas.job.metrics import metrics_reference
from nas.job.schema import JobSpec
from nas.paths import data_home
from nas.store import CANDIDATE_STATUSES, JOB_STATUSES, ArtifactNotFound, Store
from nas.datasets import MAX_DATASET_BYTES
from nas.tasks.catalog import BENCHMARK_TASK, BUILTIN_TASKS, FILE_FORMATS
from search_spaces.registry import space_names

TOKEN_ENV = "NAS_API_TOKEN"
API_PATHS = ("/jobs", "/artifacts", "/datasets", "/me")  # need a key, or the dashboard's session
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DASHBOARD_HEADER = "X-NAS-Dashboard"
MAX_BODY_BYTES = 1_000_000  # a job spec is a few hundred bytes
DEFAULT_PAGE, MAX_PAGE = 20, 500  # a page of summaries costs a few queries per job
_POSITION = re.compile(r"^body:(\d+):(\d+): ")
_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")  # "objectives[1].metric" -> objectives, 1, metric

YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")  # anything else is read as JSON

_SPEC_EXAMPLE = {
    "name": "nas-bench-bert-boshnas",
    "space": "flexibert",
    "preset": "nas-bench-bert",
    "task": "nas-bench-bert",
    "objectives": [{"metric": "accuracy", "goal": "maximize"}, {"metric": "params", "goal": "minimize"}],
    "strategy": "boshnas",
    "budget": {"candidates": 50},
    "seed": 0,
}


def spec_schemas() -> dict[str, Any]:
    """OpenAPI component schemas of a job spec: `JobSpec` (the request body of POST /jobs) and the
    models it refers to. The spec is parsed by `nas.job.parse` (for its errors), not by FastAPI, so
    the schema is declared here; it says what the parser takes: a space by name, a task as a
    built-in name or a file."""
    schema = JobSpec.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs")
    properties = schema["properties"]
    properties["space"] = {**properties["space"], "enum": space_names()}
    builtin = {"type": "string", "enum": [*sorted(BUILTIN_TASKS), BENCHMARK_TASK], "description": "A built-in task."}
    properties["task"] = {"anyOf": [builtin, properties["task"]], "description": "A built-in task by name, or a file under the server's data directory."}
    return {**definitions, "JobSpec": schema}


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


def create_app(store: Store, token: str | None, export_root: Path | str, data_root: Path | None = None) -> FastAPI:
    """The API over `store`; clients send `token` (its holder is an admin) or a user's key
    (`nas users add`); exports are written under `export_root`; job specs may name task files
    inside `data_root` only (default: `<data directory>/data`)."""
    if not token and not store.has_users():
        raise ValueError(f"token: required (pass one or set {TOKEN_ENV}), or add a user first (nas users add NAME --admin); requests must send 'Authorization: Bearer <token or key>'")
    expected = token.encode() if token else None
    bearer = HTTPBearer(auto_error=False, description="The server's token (`nas serve --token`) or a user's key (`nas users add`).")
    data_root = Path(data_root) if data_root is not None else data_home() / "data"

    def authenticate(header: str | None) -> Principal | None:
        scheme, _, sent = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not sent.strip():
            return None
        # The bytes sent (Starlette decodes headers as latin-1), so non-ASCII tokens work too.
        return principal_for(sent.strip().encode("latin-1"))

    def principal_for(sent: bytes) -> Principal | None:
        """The holder of the token or key `sent` (UTF-8); None for an unknown or revoked one."""
        if expected is not None and hmac.compare_digest(sent, expected):  # constant time
            return Principal(None, admin=True)
        try:
            return access.user_for_key(store, sent.decode("utf-8"))
        except UnicodeDecodeError:
            return None

    def subject_for_key(key: str) -> str | None:
        """The session subject a valid token or key logs in as (see nas.dashboard.sessions)."""
        who = principal_for(key.encode("utf-8"))
        if who is None:
            return None
        return sessions_mod.TOKEN_SUBJECT if who.name is None else sessions_mod.KEY_SUBJECT + access.hash_key(key)

    def session_principal(request: Request) -> Principal | None:
        """Who the request's dashboard session belongs to; None without a valid one (or when
        its user was revoked, or the token it logged in with is no longer the server's)."""
        subject = sessions.subject(request.cookies.get(sessions_mod.COOKIE))
        if subject == sessions_mod.TOKEN_SUBJECT:
            return Principal(None, admin=True) if expected is not None else None
        if subject is not None and subject.startswith(sessions_mod.KEY_SUBJECT):
            user = store.user_by_key_hash(subject.removeprefix(sessions_mod.KEY_SUBJECT))
            return Principal(user.name, user.admin) if user is not None else None
        return None

    def authorize(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        """Declares the bearer scheme in OpenAPI; the middleware below has already checked it."""

    def caller(request: Request) -> Principal:
        return request.state.principal

    Caller = Annotated[Principal, Depends(caller)]

    def visible_job(job_id: int, who: Principal) -> Any:
        """The job, if `who` may see it; else not found, as for a job that does not exist."""
        job = service.get_job(store, job_id)
        if not who.sees(job.owner):
            raise NotFound("job_id", f"job {job_id} not found")
        return job

    def visible_dataset(dataset_id: str, who: Principal) -> datasets.Dataset:
        dataset = datasets.get_dataset(data_root, dataset_id)
        if not who.sees(dataset.owner):
            raise datasets.DatasetNotFound(dataset_id)
        return dataset

    app = FastAPI(
        title="transformer-nas", version=_version(), description="Neural architecture search for transformers: jobs, Pareto fronts, exports.",
        docs_url=None, redoc_url=None,  # served below from local files: FastAPI's own pages load them from a CDN
    )  # fmt: skip
    _add_error_handlers(app)
    _add_offline_docs(app)
    sessions = sessions_mod.SessionSigner()
    add_dashboard(app, sessions, subject_for_key, session_principal)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        # Before any body is read: an unauthenticated client learns nothing from how its body
        # parses, and an oversized body is refused unread.
        if request.url.path.startswith(API_PATHS):
            principal = await run_in_threadpool(authenticate, request.headers.get("authorization"))
            if principal is None and "authorization" not in request.headers:  # the dashboard's requests
                principal = await run_in_threadpool(session_principal, request)
                # A cookie rides along with any request to this host; a custom header cannot be
                # set by another site's form or script, so changes need it (no cross-site requests).
                if principal is not None and request.method not in SAFE_METHODS and request.headers.get(DASHBOARD_HEADER) != "1":
                    return JSONResponse({"detail": f"a request authenticated by the session cookie that changes something must send '{DASHBOARD_HEADER}: 1'"}, status_code=status.HTTP_403_FORBIDDEN)
            request.state.principal = principal
            if principal is None:
                return JSONResponse(
                    {"detail": "missing or invalid bearer token: send 'Authorization: Bearer <token or key>'"},
                    status_code=status.HTTP_401_UNAUTHORIZED,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            length = request.headers.get("content-length")
            limit = MAX_DATASET_BYTES if request.url.path.startswith("/datasets") else MAX_BODY_BYTES
            if length is not None and (not length.isdigit() or int(length) > limit):
                return _too_large(limit)
        return await call_next(request)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """The server is up; how many coordinators are alive (jobs stay queued while none is) and
        how many jobs are queued and running."""
        return service.service_health(store)

    @app.get("/me", tags=["service"], dependencies=[Depends(authorize)])
    def me(who: Caller) -> dict[str, Any]:
        """Who the key (or session) belongs to: a user's name, or null for the server's token."""
        return {"name": who.name, "admin": who.admin}

    jobs = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Depends(authorize)])

    def public(row: dict[str, Any]) -> dict[str, Any]:
        return service.public_summary(row, data_root)

    def summary(job: Any) -> dict[str, Any]:
        return public(service.job_summary(store, job))

    spec_body = {"$ref": "#/components/schemas/JobSpec"}
    spec_content = {"application/json": {"schema": spec_body, "example": _SPEC_EXAMPLE}, **{media: {"schema": spec_body} for media in YAML_MEDIA_TYPES}}

    @jobs.post("", status_code=status.HTTP_201_CREATED, openapi_extra={"requestBody": {"required": True, "content": spec_content}})
    async def submit_job(request: Request, who: Caller) -> dict[str, Any]:
        """Validate and queue a job: a spec as in examples/*.yaml, in JSON or (with Content-Type
        application/yaml) YAML; 422 lists every problem of the spec. Task files are named
        relative to the server's data directory."""
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _too_large()
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        language = "YAML" if media in YAML_MEDIA_TYPES else "JSON"
        try:
            text = body.decode("utf-8")
            data = load_yaml(text, "body") if language == "YAML" else load_json(text, "body")
        except UnicodeDecodeError as exc:
            return _unprocessable([{"loc": ["body"], "msg": f"not UTF-8 text ({exc.reason} at byte {exc.start})", "type": "value_error"}])
        except json.JSONDecodeError as exc:
            message = f"not valid JSON ({exc.msg}); send YAML with Content-Type: application/yaml"
            return _unprocessable([{"loc": ["body"], "msg": message, "type": "value_error"}])
        except DocumentError as exc:  # "body:3:7: not valid YAML (...)" -> "line 3, column 7: ..."
            message = _POSITION.sub(r"line \1, column \2: ", str(exc)).removeprefix("body: ")
            return _unprocessable([{"loc": ["body"], "msg": message, "type": "value_error"}])
        if not isinstance(data, dict):
            return _unprocessable([{"loc": ["body"], "msg": f"expected a {language} mapping of spec fields, got {type(data).__name__}", "type": "value_error"}])
        task = data.get("task")
        if isinstance(task, dict) and isinstance(task.get("dataset"), str):  # another user's upload reads as unknown
            try:
                visible_dataset(task["dataset"], who)
            except datasets.DatasetNotFound as exc:
                return _unprocessable([{"loc": ["body", "task", "dataset"], "msg": str(exc), "type": "value_error"}])
        return summary(service.submit_job(store, data, data_root=data_root, owner=who.name))

    @jobs.get("")
    def list_jobs(
        response: Response,
        who: Caller,
        status: Literal[JOB_STATUSES] | None = None,  # type: ignore[valid-type]
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Jobs per page.")] = DEFAULT_PAGE,
        after: Annotated[int | None, Query(ge=0, description="Only jobs with a larger id: the X-Next-After header of the previous page.")] = None,
    ) -> list[dict[str, Any]]:
        """Jobs in id order, a page at a time; `X-Next-After` names the next page when there is one."""
        page = service.list_jobs(store, status, limit=limit + 1, after=after, owner=who.owner_filter)
        if len(page) > limit:
            page = page[:limit]
            response.headers["X-Next-After"] = str(page[-1].id)
        return [public(row) for row in service.job_summaries(store, page)]

    @jobs.get("/{job_id}")
    def get_job(job_id: int, who: Caller) -> dict[str, Any]:
        return summary(visible_job(job_id, who))

    @jobs.post("/{job_id}/cancel")
    def cancel_job(job_id: int, who: Caller) -> dict[str, Any]:
        """A queued job is cancelled at once; a running one at its coordinator's next step."""
        visible_job(job_id, who)
        return summary(service.cancel_job(store, job_id))

    @jobs.delete("/{job_id}")
    def delete_job(job_id: int, who: Caller) -> dict[str, Any]:
        """Delete a job that is not running (409 for a running one: cancel it first) with its
        candidates, events and the files it made (checkpoint, verified weights, exports)."""
        visible_job(job_id, who)
        return service.delete_job(store, job_id)

    @jobs.get("/{job_id}/candidates", description=f"The job's candidates in proposal order.\n\n{metrics_reference()}", responses={200: {"content": {"text/csv": {}}, "description": "JSON rows, or CSV with format=csv"}})
    def candidates(
        job_id: int,
        who: Caller,
        status: Literal[CANDIDATE_STATUSES] | None = None,  # type: ignore[valid-type]
        format: Annotated[Literal["json", "csv"], Query(description="json rows, or csv (one column per metric) to download.")] = "json",
    ) -> Any:
        """The job's candidates in proposal order."""
        visible_job(job_id, who)
        rows = service.candidate_rows(store, job_id, status)
        if format == "csv":
            headers = {"Content-Disposition": f'attachment; filename="job-{job_id}-candidates.csv"'}
            return Response(service.candidates_csv(rows), media_type="text/csv", headers=headers)
        return rows

    @jobs.get("/{job_id}/candidates/{candidate}")
    def candidate(job_id: int, candidate: Annotated[int, FastApiPath(ge=1, description="The candidate's number in the job (1, 2, 3 …).")], who: Caller) -> dict[str, Any]:
        """One candidate: its row as in the list, and its computation graph (nodes with their
        operation and layer, edges) for drawing."""
        visible_job(job_id, who)
        return service.candidate_detail(store, job_id, candidate)

    @jobs.get("/{job_id}/analysis")
    def analysis(job_id: int, who: Caller) -> dict[str, Any]:
        """The job's search analysis: the front's hypervolume after each candidate (share of the
        objective box, 0 to 1), the importance of each architecture feature for the primary
        objective (random-forest shares), the supernet's loss and health per epoch."""
        visible_job(job_id, who)
        return service.job_analysis(store, job_id)

    @jobs.get("/{job_id}/references")
    def references(job_id: int, who: Caller) -> list[dict[str, Any]]:
        """The job's plain-family references, smallest first: the homogeneous models of its space
        that meet its constraints, scored like its candidates (`metrics`) and trained beside its
        verified candidates (`trained`: test and validation accuracy over the seeds, with the
        test accuracy's 95% half-width, and `first`, the training with the job's seed). Empty
        until the search ends, or with `verify.references: 0`."""
        visible_job(job_id, who)
        return service.reference_rows(store, job_id)

    @jobs.get("/{job_id}/events")
    def events(
        job_id: int,
        who: Caller,
        after: Annotated[int | None, Query(ge=0, description="Only events after the one of this id: the last id a client has, to follow a job.")] = None,
    ) -> list[dict[str, Any]]:
        """The job's events (started, supernet progress, health checks, verification, errors) in order."""
        visible_job(job_id, who)
        return service.event_rows(store, job_id, after)

    @jobs.get("/{job_id}/pareto", description=f"The done candidates within the job's constraints that no other dominates.\n\n{metrics_reference()}")
    def pareto(
        job_id: int,
        who: Caller,
        objectives: Annotated[str | None, Query(description="Comma-separated metrics, e.g. accuracy,params (default: the job's objectives).")] = None,
        verified: Annotated[bool, Query(description="The front of the verified candidates, on their standalone training's validation accuracy.")] = False,
    ) -> list[dict[str, Any]]:
        """The done candidates within the job's constraints that no other dominates."""
        visible_job(job_id, who)
        return service.pareto_rows(store, job_id, objectives.split(",") if objectives is not None else None, verified=verified)

    @jobs.post("/{job_id}/export", status_code=status.HTTP_201_CREATED)
    def export(job_id: int, request: ExportRequest, who: Caller) -> dict[str, Any]:
        """Write a done candidate as a standalone model under the export root."""
        visible_job(job_id, who)
        from nas.export.exporter import resolve_export_dir  # imports torch: only exports pay for it

        out = request.out or f"job-{job_id}/candidate-{request.candidate}-{request.format}-{uuid.uuid4().hex[:8]}"
        remote = is_uri(str(export_root))  # an artifact root of the cluster's (s3://, gs://, ...)
        base = Path("/export-root") if remote else Path(export_root)  # `out` is checked as a path inside the root either way
        try:
            out_dir = resolve_export_dir(base, out)
        except ValueError as exc:
            raise BadRequest("out", str(exc).removeprefix("out: ")) from None
        relative = out_dir.relative_to(base.resolve()).as_posix()
        taken = Conflict("out", f"{out!r} exists and is not empty; choose another directory")  # not the server's path
        publish_to = join(str(export_root), relative) if remote else None
        if publish_to is not None and DirectFiles().names(publish_to):
            raise taken
        scratch = Path(tempfile.mkdtemp(prefix="nas-export-")) if remote else None
        try:
            result = service.export_candidate(
                store, job_id, request.candidate, request.format, scratch / "model" if scratch else out_dir, finetune_epochs=request.finetune_epochs,
                weights=request.weights, finetune_lr=request.finetune_lr, keep_worse=request.keep_worse, publish_to=publish_to,
            )  # fmt: skip
        except Conflict as exc:
            if exc.field != "out":
                raise
            raise taken from None
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        # The server's own layout is not the client's business: the path is given as asked.
        return {**result, "out_dir": relative}

    app.include_router(jobs)

    artifacts = APIRouter(prefix="/artifacts", tags=["artifacts"], dependencies=[Depends(authorize)])

    @artifacts.get("/{artifact_id}", response_class=FileResponse, responses={200: {"content": {"application/gzip": {}}, "description": "The export as a .tar.gz"}})
    def download_artifact(artifact_id: int, who: Caller) -> FileResponse:
        """An export (the `artifact_id` POST /jobs/{id}/export answered) as one .tar.gz: model,
        arch.json, preprocessing, loader.py and the model card."""
        try:
            visible_job(store.get_artifact(artifact_id).job_id, who)
        except (ArtifactNotFound, NotFound):
            raise NotFound("artifact_id", f"artifact {artifact_id} not found") from None
        scratch = Path(tempfile.mkdtemp(prefix="nas-artifact-"))
        try:
            archive, name = service.export_archive(store, artifact_id, scratch)
        except Exception:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return FileResponse(archive, media_type="application/gzip", filename=name, background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True))

    app.include_router(artifacts)

    uploads = APIRouter(prefix="/datasets", tags=["datasets"], dependencies=[Depends(authorize)])
    upload_body = {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}

    @uploads.post("", status_code=status.HTTP_201_CREATED, openapi_extra={"requestBody": upload_body})
    async def upload_dataset(
        request: Request,
        who: Caller,
        name: Annotated[str, Query(description="The file's name, e.g. reviews.csv (its suffix gives the format unless format= does).")],
        format: Annotated[Literal[FILE_FORMATS] | None, Query(description="csv, jsonl or npz.")] = None,  # type: ignore[valid-type]
        text_column: Annotated[str | None, Query(min_length=1, description="csv / jsonl: the text column (default text).")] = None,
        label_column: Annotated[str | None, Query(min_length=1, description="csv / jsonl: the label column (default label).")] = None,
    ) -> dict[str, Any]:
        """Upload a task file as the raw body (at most 100 MiB), checked as a job's task file is;
        a spec then names it as `task: {dataset: ID}`. The same content again is the same dataset."""
        fmt = datasets.check_upload_fields(name, format, text_column, label_column)
        incoming = datasets.incoming_path(data_root)
        size = 0
        try:
            with incoming.open("wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > MAX_DATASET_BYTES:  # a body sent without Content-Length
                        return _too_large(MAX_DATASET_BYTES)
                    f.write(chunk)
            if size == 0:
                raise datasets.DatasetError("body", "empty; send the file's bytes as the request body")
            return datasets.register_upload(data_root, incoming, name, fmt, text_column, label_column, owner=who.name).to_dict()
        finally:
            incoming.unlink(missing_ok=True)

    @uploads.get("")
    def list_datasets(who: Caller) -> list[dict[str, Any]]:
        return [d.to_dict() for d in datasets.list_datasets(data_root) if who.sees(d.owner)]

    @uploads.get("/{dataset_id}")
    def get_dataset(dataset_id: str, who: Caller) -> dict[str, Any]:
        return visible_dataset(dataset_id, who).to_dict()

    @uploads.delete("/{dataset_id}")
    def delete_dataset(dataset_id: str, who: Caller) -> dict[str, Any]:
        """Remove an uploaded dataset; jobs that trained on it keep their results."""
        visible_dataset(dataset_id, who)
        return {**datasets.delete_dataset(data_root, dataset_id).to_dict(), "deleted": True}

    app.include_router(uploads)
    generated_openapi = app.openapi

    def openapi_with_spec() -> dict[str, Any]:
        schema = generated_openapi()  # FastAPI's, cached on the app
        schema.setdefault("components", {}).setdefault("schemas", {}).update(spec_schemas())
        return schema

    app.openapi = openapi_with_spec  # type: ignore[method-assign]
    return app


def serve(
    store_url: str | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    export_root: Path | str | None = None,
    data_root: Path | None = None,
    coordinators: int = 1,
    ray_address: str | None = None,
    artifact_root: str | None = None,
    max_jobs: int = 1,
    ray_cpus: int | None = None,
) -> None:
    """Run the API with uvicorn until interrupted, with `coordinators` coordinator processes beside
    it (0: jobs are run by a separate `nas coordinator` fleet), on the Ray cluster at
    `ray_address` (else each on a local one of `ray_cpus` CPUs), writing to `artifact_root`, each running up to `max_jobs` jobs at once. The token is `token`, else $NAS_API_TOKEN."""
    import uvicorn

    from nas.search.local_fleet import start_coordinators, stop_coordinators

    token = token or os.environ.get(TOKEN_ENV)
    # Exports go to the artifact root the coordinators write (a URI on a cluster without shared
    # disks), not the working directory: a server's is arbitrary.
    exports: Path | str = str(export_root) if export_root is not None else ArtifactRoot(artifact_root).exports()
    if not is_uri(str(exports)):
        exports = Path(exports)
        exports.mkdir(parents=True, exist_ok=True)
    if data_root is not None:
        Path(data_root).mkdir(parents=True, exist_ok=True)
    store = Store(store_url)
    app = create_app(store, token, exports, data_root)  # refuses to run with neither a token nor users
    # uvicorn re-raises the signal that stopped it once it has shut down; SIGTERM's default would
    # then end the process before the coordinators are stopped, orphaning them.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    children = start_coordinators(coordinators, store.url, ray_address, artifact_root, max_jobs, ray_cpus)
    try:
        uvicorn.run(app, host=host, port=port)
    finally:
        stop_coordinators(children)


# ---- the documentation pages ----

DOCS_ASSETS = "/docs-assets"
REDOC_BUNDLE = "redoc.standalone.js"
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _add_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc with every asset served by this server, so that
    they work on a machine without internet. The assets are the fastapi-offline wheel's (Swagger
    UI 5, which reads OpenAPI 3.1, and ReDoc 2)."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    title = f"{app.title} API"

    @app.get(f"{DOCS_ASSETS}/{REDOC_BUNDLE}", include_in_schema=False)
    def redoc_bundle() -> Response:
        # ReDoc's bundle shows a logo fetched from its CDN (hidden when the fetch fails): the page
        # asks nothing of the internet with an address that fails at once instead.
        script = (assets / REDOC_BUNDLE).read_text(encoding="utf-8").replace(REDOC_CDN_LOGO, "data:,")
        return Response(script, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})

    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")  # after the route above, which it would shadow

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Any:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title, swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css", swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )  # fmt: skip

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Any:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title, redoc_js_url=f"{DOCS_ASSETS}/{REDOC_BUNDLE}",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png", with_google_fonts=False,
        )  # fmt: skip


# ---- errors ----


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(Conflict)
    def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(datasets.DatasetNotFound)
    def dataset_not_found(_: Request, exc: datasets.DatasetNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(datasets.DatasetError)
    def bad_dataset(_: Request, exc: datasets.DatasetError) -> JSONResponse:
        where = "body" if exc.field == "body" else "query"
        return _unprocessable([{"loc": [where] if where == "body" else [where, exc.field], "msg": exc.message, "type": "value_error"}])

    @app.exception_handler(BadRequest)
    def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        # GET routes take their input from the query, the others from the body.
        where = "query" if request.method == "GET" else "body"
        return _unprocessable([{"loc": [where, exc.field], "msg": exc.message, "type": "value_error"}])

    @app.exception_handler(RequestValidationError)
    def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, which need not be JSON (NaN): keep where and what.
        return _unprocessable([{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", "value_error"))} for e in exc.errors()])

    @app.exception_handler(SpecError)
    def invalid_spec(_: Request, exc: SpecError) -> JSONResponse:
        return _unprocessable([_spec_problem(p) for p in exc.problems])


def _spec_problem(problem: str) -> dict[str, Any]:
    """"objectives[1].metric: message" -> {"loc": ["body", "objectives", 1, "metric"], "msg": "message"}."""
    path, sep, message = problem.partition(": ")
    if not sep:
        return {"loc": ["body"], "msg": problem, "type": "value_error"}
    parts = [] if path == "spec" else [int(index) if index else name for index, name in _PATH_PART.findall(path)]
    return {"loc": ["body", *parts], "msg": message, "type": "value_error"}


def _too_large(limit: int = MAX_BODY_BYTES) -> JSONResponse:
    return JSONResponse({"detail": f"body: larger than {limit:,} bytes"}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)


def _unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _version() -> str:
    try:
        return importlib.metadata.version("transformer-nas")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
