"""Coordinators that `nas serve` runs beside the API, as child processes: a job submitted to a
lone server then runs without anyone starting `nas coordinator` too.

Each child is a plain `nas coordinator` (its own process: Ray and the training threads stay out
of the API's event loop). The database URL travels in the environment, not on the command line,
where `ps` would show a password. Each child has its own session, so a Ctrl-C at the server's
terminal reaches the server alone, and the server stops its children once, with SIGINT, as
Ctrl-C would: a coordinator signs off and a job it was running resumes under the next one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from nas.artifact_root import ROOT_ENV

logger = logging.getLogger(__name__)

STOP_GRACE_S = 30.0  # for a coordinator to leave its job; then it is killed


def start_coordinators(
    count: int, db_url: str, ray_address: str | None = None, artifact_root: str | None = None, max_jobs: int = 1, ray_cpus: int | None = None
) -> list[subprocess.Popen[bytes]]:
    """`count` coordinator processes on the store at `db_url` (and the Ray cluster at
    `ray_address`, else each starts its own local one of `ray_cpus` CPUs), writing to `artifact_root`."""
    env = {**os.environ, "NAS_DB_URL": db_url}
    if ray_address:
        env["RAY_ADDRESS"] = ray_address
    if ray_cpus is not None:
        env["NAS_RAY_CPUS"] = str(ray_cpus)
    if artifact_root:
        env[ROOT_ENV] = artifact_root
    command = [sys.executable, "-m", "nas.cli", "coordinator", "--no-progress", "--max-jobs", str(max_jobs)]
    children = [subprocess.Popen(command, env=env, start_new_session=True) for _ in range(count)]
    for child in children:
        logger.info("coordinator started (pid %d)", child.pid)
    return children


def stop_coordinators(children: Sequence[subprocess.Popen[bytes]], grace_s: float = STOP_GRACE_S) -> None:
    """Interrupt every child, wait up to `grace_s` for each, then kill those still running."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children:
        try:
            child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            logger.warning("coordinator pid %d did not stop within %.0f s; killing it", child.pid, grace_s)
            child.kill()
            child.wait()
        logger.info("coordinator pid %d exited (%d)", child.pid, child.returncode)
