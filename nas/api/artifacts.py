"""/artifacts: an export, downloaded as one archive by a client that cannot read the server's disk."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition.
import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from nas import service
from nas.api.context import Caller, Context, authorize, visible_job
from nas.store import ArtifactNotFound

router = APIRouter(prefix="/artifacts", tags=["artifacts"], dependencies=[Depends(authorize)])


@router.get("/{artifact_id}", response_class=FileResponse, responses={200: {"content": {"application/gzip": {}}, "description": "The export as a .tar.gz"}})
def download_artifact(artifact_id: int, who: Caller, ctx: Context) -> FileResponse:
    """An export (the `artifact_id` POST /jobs/{id}/export answered) as one .tar.gz: model,
    arch.json, preprocessing, loader.py and the model card."""
    try:
        visible_job(ctx, ctx.store.get_artifact(artifact_id).job_id, who)
    except (ArtifactNotFound, service.NotFound):
        raise service.NotFound("artifact_id", f"artifact {artifact_id} not found") from None
    scratch = Path(tempfile.mkdtemp(prefix="nas-artifact-"))
    try:
        archive, name = service.export_archive(ctx.store, artifact_id, scratch)
    except Exception:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return FileResponse(archive, media_type="application/gzip", filename=name, background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True))
