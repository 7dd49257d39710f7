"""Who a request comes from: the server's token, a user's key (`nas users add`), or the dashboard's
session cookie. The guard middleware decides before any body is read; `/me` says who a key is."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at definition.
import hmac
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nas import access
from nas.access import Principal
from nas.api.context import ApiContext, Caller, authorize
from nas.api.errors import MAX_BODY_BYTES, too_large
from nas.dashboard import sessions
from nas.datasets import MAX_DATASET_BYTES
from nas.read_models import Me

API_PATHS = ("/jobs", "/artifacts", "/datasets", "/me")  # need a key, or the dashboard's session
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DASHBOARD_HEADER = "X-NAS-Dashboard"

router = APIRouter(tags=["service"])


@router.get("/me", response_model=Me, dependencies=[Depends(authorize)])
def me(who: Caller) -> dict[str, Any]:
    """Who the key (or session) belongs to: a user's name, or null for the server's token."""
    return {"name": who.name, "admin": who.admin}


def authenticate(ctx: ApiContext, header: str | None) -> Principal | None:
    """The holder of an `Authorization: Bearer …` header's token or key; None for none or an unknown one."""
    scheme, _, sent = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        return None
    # The bytes sent (Starlette decodes headers as latin-1), so non-ASCII tokens work too.
    return principal_for(ctx, sent.strip().encode("latin-1"))


def principal_for(ctx: ApiContext, sent: bytes) -> Principal | None:
    """The holder of the token or key `sent` (UTF-8); None for an unknown or revoked one."""
    if ctx.token is not None and hmac.compare_digest(sent, ctx.token):  # constant time
        return Principal(None, admin=True)
    try:
        return access.user_for_key(ctx.store, sent.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def subject_for_key(ctx: ApiContext, key: str) -> str | None:
    """The session subject a valid token or key logs in as (see nas.dashboard.sessions)."""
    who = principal_for(ctx, key.encode("utf-8"))
    if who is None:
        return None
    return sessions.TOKEN_SUBJECT if who.name is None else sessions.KEY_SUBJECT + access.hash_key(key)


def session_principal(ctx: ApiContext, request: Request) -> Principal | None:
    """Who the request's dashboard session belongs to; None without a valid one (or when its
    user was revoked, or the token it logged in with is no longer the server's)."""
    subject = ctx.sessions.subject(request.cookies.get(sessions.COOKIE))
    if subject == sessions.TOKEN_SUBJECT:
        return Principal(None, admin=True) if ctx.token is not None else None
    if subject is not None and subject.startswith(sessions.KEY_SUBJECT):
        user = ctx.store.user_by_key_hash(subject.removeprefix(sessions.KEY_SUBJECT))
        return Principal(user.name, user.admin) if user is not None else None
    return None


def add_guard(app: FastAPI) -> None:
    """The middleware in front of every API path: authenticated, and a body within its limit."""

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        # Before any body is read: an unauthenticated client learns nothing from how its body
        # parses, and an oversized body is refused unread.
        if request.url.path.startswith(API_PATHS):
            ctx: ApiContext = request.app.state.context
            principal = await run_in_threadpool(authenticate, ctx, request.headers.get("authorization"))
            if principal is None and "authorization" not in request.headers:  # the dashboard's requests
                principal = await run_in_threadpool(session_principal, ctx, request)
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
                return too_large(limit)
        return await call_next(request)
