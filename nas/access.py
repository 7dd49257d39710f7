"""Who is calling the API, and what they may see.

Two modes, together or apart: the server's one token (`nas serve --token`, for one person: its
holder is an admin), and API keys per user (`nas users add NAME`), stored as SHA-256 hashes. A
user sees the jobs and datasets they submitted; an admin sees all. Anything else reads as not
found (404, never 403: no one learns that another user's job exists).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from nas.store import Store, UserRecord

KEY_PREFIX = "nask_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")


@dataclass(frozen=True)
class Principal:
    """The caller: a user's name, or None for the holder of the server's token."""

    name: str | None
    admin: bool

    def sees(self, owner: str | None) -> bool:
        return self.admin or (owner is not None and owner == self.name)

    @property
    def owner_filter(self) -> str | None:
        """The owner whose items a listing shows; None: every item (admins)."""
        return None if self.admin else self.name


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add_user(store: Store, name: str, admin: bool = False) -> tuple[UserRecord, str]:
    """A new user and their key (shown once: only its hash is kept)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"name: {name!r} is not a user name (letters, digits, '.', '_', '@', '-'; at most 100, starting with a letter or digit)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return store.add_user(name, hash_key(key), admin), key


def user_for_key(store: Store, key: str) -> Principal | None:
    """The active user holding `key`; None for an unknown or revoked key."""
    if not key.startswith(KEY_PREFIX):
        return None
    user = store.user_by_key_hash(hash_key(key))
    return Principal(user.name, user.admin) if user is not None else None
