"""Browser sessions for the dashboard: a signed cookie naming who logged in.

The cookie holds the subject (`token` for the server's token, or the SHA-256 hash of a user's key),
an expiry and an HMAC over both; nothing secret is in it. Each request resolves the subject again,
so revoking a user ends their sessions at once. The signing secret is `NAS_SESSION_SECRET` when set
(several servers behind one address must share it), else drawn when the server starts: then a
restart logs everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time

COOKIE = "nas_session"
LIFETIME_S = 7 * 24 * 3600
SECRET_ENV = "NAS_SESSION_SECRET"
TOKEN_SUBJECT = "token"
KEY_SUBJECT = "key:"


class SessionSigner:
    def __init__(self, secret: bytes | None = None, lifetime_s: int = LIFETIME_S):
        configured = os.environ.get(SECRET_ENV)
        self._secret = secret or (configured.encode() if configured else secrets.token_bytes(32))
        self.lifetime_s = lifetime_s

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, subject: str) -> str:
        payload = f"{subject}|{int(time.time()) + self.lifetime_s}"
        return f"{base64.urlsafe_b64encode(payload.encode()).decode()}.{self._sign(payload)}"

    def subject(self, cookie: str | None) -> str | None:
        """The subject of a valid, unexpired cookie; None for anything else."""
        encoded, _, signature = (cookie or "").partition(".")
        try:
            payload = base64.urlsafe_b64decode(encoded.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        subject, _, expires = payload.rpartition("|")
        if not expires.isdigit() or int(expires) < time.time():
            return None
        return subject
