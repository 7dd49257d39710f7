"""Where the service reads the time of day.

Heartbeats, staleness, the coordinators' presence and `budget.max_minutes` all compare times the
store recorded with "now". They read it from one `Clock`, the store's, so that a test (or a
replay) can move time forward instead of waiting for it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """This machine's clock (coordinators on several machines need theirs synchronised, by NTP)."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
