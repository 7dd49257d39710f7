"""Logging of the service: every module logs to a child of the `nas` logger; the CLI attaches the
one handler (stderr), at WARNING unless `--verbose`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

ROOT = "nas"


def configure_cli_logging(verbose: bool) -> None:
    """One stderr handler on the `nas` logger: warnings and errors, or everything with `verbose`."""
    logger = logging.getLogger(ROOT)
    if any(getattr(h, "_nas_cli", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler._nas_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


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
