"""Connecting to Ray: a local cluster by default, an existing one by address."""

from __future__ import annotations

import logging
import os
import threading
from contextlib import nullcontext

from nas.log import silenced

logger = logging.getLogger(__name__)


class RayUnavailable(RuntimeError):
    """The Ray cluster asked for cannot be joined (refused, or not there)."""


def init_ray(address: str | None) -> None:
    """Joins the cluster at `address` (or $RAY_ADDRESS), else starts a local one; RayUnavailable
    with what to do when the cluster cannot be joined."""
    with _joining:  # jobs in threads of one coordinator (--max-jobs) share one connection
        _init_ray(address)


_joining = threading.Lock()


def _init_ray(address: str | None) -> None:
    import ray
    import ray.exceptions

    AuthenticationError = getattr(ray.exceptions, "AuthenticationError", ())  # Ray without token auth has none

    if ray.is_initialized():
        return
    # "local": a cluster of this process's own. Without an address Ray would join whatever a
    # `ray start` left on this machine (its /tmp/ray/ray_current_cluster), even a dead one.
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    # A local cluster gets Ray's token auth by default; Ray's warning announcing that default
    # would be the first line of every local run, so it is silenced for local starts only.
    try:
        with silenced("ray._private.authentication.authentication_token_setup") if address == "local" else nullcontext():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except AuthenticationError as exc:
        raise RayUnavailable(
            f"the Ray cluster at {address} refused this process's token ({str(exc).split('.')[0]}): set RAY_AUTH_MODE=token and "
            "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the token the cluster's nodes were started with"
        ) from None
    except (ConnectionError, TimeoutError) as exc:  # Ray reports a refused token this way too, logging InvalidAuthToken
        raise RayUnavailable(
            f"cannot connect to the Ray cluster at {address} ({exc}); check the address, and where the cluster uses token authentication "
            f"(Ray logs InvalidAuthToken), set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to its token"
        ) from None
    logger.info("ray: %s", "started a local cluster" if address == "local" else f"connected to {address}")
