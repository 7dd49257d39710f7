"""The API's own description: the OpenAPI schema (with the job spec's, which FastAPI cannot derive
because the spec is parsed by `nas.job.parse`), and Swagger UI at /docs and ReDoc at /redoc served
from this server's files, so that they work on a machine without internet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response

from nas.job.schema import JobSpec
from nas.tasks.catalog import BENCHMARK_TASK, BUILTIN_TASKS
from search_spaces.registry import space_names

DOCS_ASSETS = "/docs-assets"
REDOC_BUNDLE = "redoc.standalone.js"
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


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


def add_spec_schema(app: FastAPI) -> None:
    """The app's OpenAPI schema with the job spec's models among its components."""
    generated = app.openapi

    def openapi_with_spec() -> dict[str, Any]:
        schema = generated()  # FastAPI's, cached on the app
        schema.setdefault("components", {}).setdefault("schemas", {}).update(spec_schemas())
        return schema

    app.openapi = openapi_with_spec  # type: ignore[method-assign]


def add_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc with every asset served by this server. The assets
    are the fastapi-offline wheel's (Swagger UI 5, which reads OpenAPI 3.1, and ReDoc 2)."""
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
