"""The dashboard's routes on the API's app: the pages, logging in and out, and their static files.

A page needs a session (else it redirects to /login); the data comes from the REST API, which
takes the session cookie as well as a bearer key (see `nas.api`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from nas.access import Principal
from nas.dashboard.pages import STATIC_FILES, render_login, render_page, safe_next, static_file
from nas.dashboard.sessions import COOKIE, SessionSigner
from nas.job.formats import EXPORT_FORMATS

logger = logging.getLogger(__name__)

MAX_LOGIN_BYTES = 4096


MAX_COMPARED = 8  # fronts one plot still tells apart


def add_dashboard(app: FastAPI, sessions: SessionSigner, subject_for_key: Callable[[str], str | None], principal: Callable[[Request], Principal | None]) -> None:
    """`subject_for_key`: the session subject of a valid key or token, else None; `principal`:
    who a request's session cookie belongs to, else None."""

    def page(request: Request, title: str, boot: dict) -> Response:
        who = principal(request)
        if who is None:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=status.HTTP_303_SEE_OTHER)
        name = who.name or "token holder"
        return HTMLResponse(render_page(title, {**boot, "me": {"name": who.name, "admin": who.admin}}, who=f"{name}{' (admin)' if who.admin else ''}"))

    @app.get("/", include_in_schema=False)
    def jobs_page(request: Request) -> Response:
        return page(request, "Jobs · transformer-nas", {"page": "jobs"})

    @app.get("/ui/jobs/{job_id}", include_in_schema=False)
    def job_page(request: Request, job_id: int) -> Response:
        return page(request, f"Job {job_id} · transformer-nas", {"page": "job", "job_id": job_id})

    @app.get("/ui/jobs/{job_id}/candidates/{candidate}", include_in_schema=False)
    def candidate_page(request: Request, job_id: int, candidate: int) -> Response:
        boot = {"page": "candidate", "job_id": job_id, "candidate": candidate, "export_formats": list(EXPORT_FORMATS)}
        return page(request, f"Candidate {candidate} of job {job_id} · transformer-nas", boot)

    @app.get("/ui/compare", include_in_schema=False)
    def compare_page(request: Request, jobs: str = "") -> Response:
        """Several jobs' fronts on one plot: /ui/compare?jobs=3,5 (the jobs list links it)."""
        ids = [int(part) for part in jobs.split(",") if part.strip().isdigit()][:MAX_COMPARED]
        return page(request, f"Jobs {', '.join(map(str, ids))} compared · transformer-nas", {"page": "compare", "jobs": ids})

    @app.get("/login", include_in_schema=False)
    def login_form(next: str = "/") -> HTMLResponse:
        return HTMLResponse(render_login(next_path=safe_next(next)))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_LOGIN_BYTES:
            return HTMLResponse(render_login("That is not a key: it is far too long."), status_code=413)
        form = parse_qs(body.decode("utf-8", errors="replace"))
        key, next_path = (form.get("key") or [""])[0].strip(), safe_next((form.get("next") or ["/"])[0])
        subject = subject_for_key(key) if key else None
        if subject is None:
            logger.info("dashboard login refused from %s", request.client.host if request.client else "?")
            return HTMLResponse(render_login("Unknown or revoked key.", next_path), status_code=status.HTTP_401_UNAUTHORIZED)
        response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
        # HttpOnly: page scripts cannot read it; SameSite=Strict: no other site's page can send it.
        secure = request.url.scheme == "https"
        response.set_cookie(COOKIE, sessions.issue(subject), max_age=sessions.lifetime_s, httponly=True, samesite="strict", secure=secure, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            return Response(status_code=status.HTTP_404_NOT_FOUND)
        return Response(static_file(name), media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=3600"})
