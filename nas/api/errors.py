"""How the API answers a refused request: the service's errors as HTTP statuses (NotFound -> 404,
Conflict -> 409, BadRequest and invalid specs -> 422 with FastAPI's `{"detail": [{"loc", "msg",
"type"}]}` shape, one entry per problem, `loc` being the field path)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from nas import datasets
from nas.job.errors import SpecError
from nas.service import BadRequest, Conflict, NotFound

MAX_BODY_BYTES = 1_000_000  # a job spec is a few hundred bytes
_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")  # "objectives[1].metric" -> objectives, 1, metric


def add_error_handlers(app: FastAPI) -> None:
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
        return unprocessable([{"loc": [where] if where == "body" else [where, exc.field], "msg": exc.message, "type": "value_error"}])

    @app.exception_handler(BadRequest)
    def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        # GET routes take their input from the query, the others from the body.
        where = "query" if request.method == "GET" else "body"
        return unprocessable([{"loc": [where, exc.field], "msg": exc.message, "type": "value_error"}])

    @app.exception_handler(RequestValidationError)
    def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, which need not be JSON (NaN): keep where and what.
        return unprocessable([{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", "value_error"))} for e in exc.errors()])

    @app.exception_handler(SpecError)
    def invalid_spec(_: Request, exc: SpecError) -> JSONResponse:
        return unprocessable([spec_problem(p) for p in exc.problems])


def spec_problem(problem: str) -> dict[str, Any]:
    """"objectives[1].metric: message" -> {"loc": ["body", "objectives", 1, "metric"], "msg": "message"}."""
    path, sep, message = problem.partition(": ")
    if not sep:
        return {"loc": ["body"], "msg": problem, "type": "value_error"}
    parts = [] if path == "spec" else [int(index) if index else name for index, name in _PATH_PART.findall(path)]
    return {"loc": ["body", *parts], "msg": message, "type": "value_error"}


def too_large(limit: int = MAX_BODY_BYTES) -> JSONResponse:
    return JSONResponse({"detail": f"body: larger than {limit:,} bytes"}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)


def unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
