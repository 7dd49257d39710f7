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


def init_ray(address: str | None, cpus: int | None = None) -> None:
    """Joins the cluster at `address` (or $RAY_ADDRESS), else starts a local one of `cpus` CPUs
    (default: all of this machine's); RayUnavailable with what to do when the cluster cannot be
    joined. Once Ray is up in this process, later calls change nothing, and one naming another
    cluster is refused (a process holds one Ray connection)."""
    with _joining:  # jobs in threads of one coordinator (--max-jobs) share one connection
        _init_ray(address, cpus)


def settle_tune_settings() -> None:
    """Settings Ray Tune reads from the environment, for the whole process: made once, when a
    coordinator starts, before any verified stage runs."""
    # Tune's console reporter would print tables into the user's terminal: the job's events say it all.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # SIGINT must stop a coordinator (or `nas run`) in a verified stage as anywhere else. Tune's
    # own handler would swallow it, and stays installed after fit() returns: a coordinator stopped
    # later ran on and claimed new jobs until it was killed.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"


_joining = threading.Lock()
_joined: str | None = None  # the address this process was asked to join, as it was spelled


def _init_ray(address: str | None, cpus: int | None) -> None:
    import ray
    import ray.exceptions

    AuthenticationError = getattr(ray.exceptions, "AuthenticationError", ())  # Ray without token auth has none

    global _joined
    wanted = address or os.environ.get("RAY_ADDRESS")
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if wanted not in (None, "local", "auto", _joined, current):
            raise RayUnavailable(
                f"this process is already connected to the Ray cluster at {_joined if _joined not in (None, 'local') else current}, so it cannot join {wanted} "
                "as well: Ray allows one cluster per process; run a separate `nas` process for the other cluster"
            )
        return
    # "local": a cluster of this process's own. Without an address Ray would join whatever a
    # `ray start` left on this machine (its /tmp/ray/ray_current_cluster), even a dead one.
    address = wanted or "local"
    if cpus is not None and address != "local":
        raise RayUnavailable(f"a bound of {cpus} CPUs applies to a local Ray cluster only; the cluster at {address} has the CPUs its nodes were started with")
    sized = {"num_cpus": cpus} if cpus is not None else {}
    # A local cluster gets Ray's token auth by default; Ray's warning announcing that default
    # would be the first line of every local run, so it is silenced for local starts only.
    try:
        with silenced("ray._private.authentication.authentication_token_setup") if address == "local" else nullcontext():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False, **sized)
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
    _joined = address
    if address == "local":
        logger.info("ray: started a local cluster of %s CPUs", cpus if cpus is not None else "all")
    else:
        logger.info("ray: connected to %s", address)
