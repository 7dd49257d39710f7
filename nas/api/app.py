"""The REST API's app (FastAPI), and `serve`, which runs it with coordinators beside it."""

from __future__ import annotations

import importlib.metadata
import os
import signal
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from nas import service
from nas.api import artifacts, auth, datasets, jobs
from nas.api.context import ApiContext
from nas.api.docs import add_offline_docs, add_spec_schema
from nas.api.errors import add_error_handlers
from nas.artifact_root import ArtifactRoot, is_uri
from nas.dashboard.routes import add_dashboard
from nas.dashboard.sessions import SessionSigner
from nas.paths import data_home
from nas.read_models import Health
from nas.store import Store

TOKEN_ENV = "NAS_API_TOKEN"


def create_app(store: Store, token: str | None, export_root: Path | str, data_root: Path | None = None) -> FastAPI:
    """The API over `store`; clients send `token` (its holder is an admin) or a user's key
    (`nas users add`); exports are written under `export_root`; job specs may name task files
    inside `data_root` only (default: `<data directory>/data`)."""
    if not token and not store.has_users():
        raise ValueError(f"token: required (pass one or set {TOKEN_ENV}), or add a user first (nas users add NAME --admin); requests must send 'Authorization: Bearer <token or key>'")
    ctx = ApiContext(store, token.encode() if token else None, export_root, Path(data_root) if data_root is not None else data_home() / "data", SessionSigner())
    app = FastAPI(
        title="transformer-nas", version=_version(), description="Neural architecture search for transformers: jobs, Pareto fronts, exports.",
        docs_url=None, redoc_url=None,  # served by add_offline_docs from local files: FastAPI's own pages load them from a CDN
    )  # fmt: skip
    app.state.context = ctx
    add_error_handlers(app)
    add_offline_docs(app)
    add_dashboard(app, ctx.sessions, lambda key: auth.subject_for_key(ctx, key), lambda request: auth.session_principal(ctx, request))
    auth.add_guard(app)

    @app.get("/health", tags=["service"], response_model=Health)
    def health() -> dict[str, Any]:
        """The server is up; how many coordinators are alive (jobs stay queued while none is) and
        how many jobs are queued and running."""
        return service.service_health(store)

    for router in (auth.router, jobs.router, artifacts.router, datasets.router):
        app.include_router(router)
    add_spec_schema(app)
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


def _version() -> str:
    try:
        return importlib.metadata.version("transformer-nas")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
