"""/datasets: task files uploaded to the server, which a spec then names as `task: {dataset: ID}`."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition.
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status

from nas import datasets
from nas.api.context import Caller, Context, authorize, visible_dataset
from nas.api.errors import too_large
from nas.datasets import MAX_DATASET_BYTES
from nas.read_models import Dataset, DatasetDeleted
from nas.tasks.catalog import FILE_FORMATS

router = APIRouter(prefix="/datasets", tags=["datasets"], dependencies=[Depends(authorize)])
_UPLOAD_BODY = {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Dataset, openapi_extra={"requestBody": _UPLOAD_BODY})
async def upload_dataset(
    request: Request,
    who: Caller,
    ctx: Context,
    name: Annotated[str, Query(description="The file's name, e.g. reviews.csv (its suffix gives the format unless format= does).")],
    format: Annotated[Literal[FILE_FORMATS] | None, Query(description="csv, jsonl or npz.")] = None,  # type: ignore[valid-type]
    text_column: Annotated[str | None, Query(min_length=1, description="csv / jsonl: the text column (default text).")] = None,
    label_column: Annotated[str | None, Query(min_length=1, description="csv / jsonl: the label column (default label).")] = None,
) -> dict[str, Any]:
    """Upload a task file as the raw body (at most 100 MiB), checked as a job's task file is;
    a spec then names it as `task: {dataset: ID}`. The same content again is the same dataset."""
    fmt = datasets.check_upload_fields(name, format, text_column, label_column)
    incoming = datasets.incoming_path(ctx.data_root)
    size = 0
    try:
        with incoming.open("wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_DATASET_BYTES:  # a body sent without Content-Length
                    return too_large(MAX_DATASET_BYTES)
                f.write(chunk)
        if size == 0:
            raise datasets.DatasetError("body", "empty; send the file's bytes as the request body")
        return datasets.register_upload(ctx.data_root, incoming, name, fmt, text_column, label_column, owner=who.name).to_dict()
    finally:
        incoming.unlink(missing_ok=True)


@router.get("", response_model=list[Dataset])
def list_datasets(who: Caller, ctx: Context) -> list[dict[str, Any]]:
    return [d.to_dict() for d in datasets.list_datasets(ctx.data_root) if who.sees(d.owner)]


@router.get("/{dataset_id}", response_model=Dataset)
def get_dataset(dataset_id: str, who: Caller, ctx: Context) -> dict[str, Any]:
    return visible_dataset(ctx, dataset_id, who).to_dict()


@router.delete("/{dataset_id}", response_model=DatasetDeleted)
def delete_dataset(dataset_id: str, who: Caller, ctx: Context) -> dict[str, Any]:
    """Remove an uploaded dataset; jobs that trained on it keep their results."""
    visible_dataset(ctx, dataset_id, who)
    return {**datasets.delete_dataset(ctx.data_root, dataset_id).to_dict(), "deleted": True}
