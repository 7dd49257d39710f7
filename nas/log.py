"""Logging helpers of the service."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silenced(logger_name: str, below: int = logging.ERROR) -> Iterator[None]:
    """Drop a third-party logger's records under `below` for the duration of the block."""
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(below)
    try:
        yield
    finally:
        logger.setLevel(previous)
