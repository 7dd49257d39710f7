"""Connecting to Ray: a local cluster by default, an existing one by address."""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext

from nas.log import silenced

logger = logging.getLogger(__name__)


def init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None  # ray reads RAY_ADDRESS itself too
    # A local cluster gets Ray's token auth by default; Ray's warning announcing that default
    # would be the first line of every local run, so it is silenced for local starts only.
    with silenced("ray._private.authentication.authentication_token_setup") if address is None else nullcontext():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    logger.info("ray: %s", f"connected to {address}" if address else "started a local cluster")
