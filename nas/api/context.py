"""What every route of the API reaches: the store, the server's directories and its token (on the
app's state, set once by `create_app`), and the caller the guard middleware authenticated."""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations at definition.
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nas import datasets, service
from nas.access import Principal
from nas.dashboard.sessions import SessionSigner
from nas.store import JobRecord, Store


@dataclass(frozen=True)
class ApiContext:
    store: Store
    token: bytes | None  # the server's token (its holder is an admin); None: users' keys only
    export_root: Path | str  # where exports are written: a directory, or the cluster's artifact root URI
    data_root: Path  # where job specs may name task files, and uploads are kept
    sessions: SessionSigner  # the dashboard's session cookies


def context(request: Request) -> ApiContext:
    return request.app.state.context


def caller(request: Request) -> Principal:
    """Who sent the request, as the guard middleware (nas.api.auth) found it."""
    return request.state.principal


Context = Annotated[ApiContext, Depends(context)]
Caller = Annotated[Principal, Depends(caller)]

bearer = HTTPBearer(auto_error=False, description="The server's token (`nas serve --token`) or a user's key (`nas users add`).")


def authorize(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """Declares the bearer scheme in OpenAPI; the guard middleware has already checked it."""


def visible_job(ctx: ApiContext, job_id: int, who: Principal) -> JobRecord:
    """The job, if `who` may see it; else not found, as for a job that does not exist."""
    job = service.get_job(ctx.store, job_id)
    if not who.sees(job.owner):
        raise service.NotFound("job_id", f"job {job_id} not found")
    return job


def visible_dataset(ctx: ApiContext, dataset_id: str, who: Principal) -> datasets.Dataset:
    """The uploaded dataset, if `who` may see it; else not found."""
    dataset = datasets.get_dataset(ctx.data_root, dataset_id)
    if not who.sees(dataset.owner):
        raise datasets.DatasetNotFound(dataset_id)
    return dataset
