"""The verified stage: after the search, top_k candidates of a job spread along its front train standalone,
as a Ray Tune experiment with one trial per candidate, so that the front a user sees rests on real
trainings and not only on inherited weights.

Each trial starts from the candidate's inherited weights or from scratch (`verify.init`), trains
on the training split and scores validation after every epoch, reporting to Tune; an ASHA
scheduler stops trials that trail the others at the same epoch (`verify.early_stop`). A trial's
best epoch on validation is its result; the test split is scored only at a new best epoch, and
that epoch's weights go to the artifact root (from whichever node the trial runs on: Tune's own
storage stays on the coordinator's machine and holds no weights). Each result is committed to the store as its
trial ends (a second fidelity beside the search's score), so a job resumed after a crash verifies
only the candidates still missing.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ray import tune

from nas.artifacts import JobFiles
from nas.job.metrics import ACCURACY
from nas.job.schema import JobSpec, VerifySpec
from nas.search.resources import tune_resources
from nas.store import CandidateRecord, Claim, ClaimLost, EventKind, InvalidTransition, Store

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
EPOCH_FILE = "epoch.json"  # written after the weights: the epoch they are of
# One rung, at half the epochs, keeps the better half: every trial trains at least half its
# epochs (with a few trials, earlier rungs stop good ones on noise).
ASHA_REDUCTION = 2
STOP_POLL_S = 1.0  # how often the experiment asks whether the job was cancelled


def verify_trial(config: dict[str, Any], setup: dict[str, Any]) -> None:
    """One Tune trial: `config["candidate"]` ({id, arch}) trained standalone as `setup` says
    (checkpoint, job_files, verified: where weights go, init, epochs, lr, batch_size, seed). Its
    weights at each new best epoch go to the artifact root, from whichever node it runs on."""
    import torch
    from safetensors.torch import save_file

    from nas.artifacts import join
    from nas.search.resources import assigned_device
    from nas.training.checkpoint import open_checkpoint
    from nas.training.standalone import evaluate, train_keeping_best

    torch.set_num_threads(setup["threads"])
    device = assigned_device()
    job_files = setup["job_files"]
    supernet, _, task = open_checkpoint(setup["checkpoint"], job_files, device=device)
    space = supernet.space
    number = config["candidate"]["number"]
    arch = space.validate(config["candidate"]["arch"])
    if setup["init"] == "inherited":
        model = supernet.extract(arch)
    else:
        with torch.random.fork_rng(devices=[]):  # same seed, same initial weights
            torch.manual_seed(setup["seed"])
            model = space.build(arch, task.shape).to(device)
    del supernet
    weights_at = join(setup["verified"], f"candidate-{number}")
    started = time.perf_counter()
    best: dict[str, Any] = {"val_accuracy": float("nan"), "test_accuracy": float("nan"), "best_epoch": 0, "weights": None}

    def report(epoch: int, val_accuracy: float, improved: bool) -> None:
        metrics = {"epoch_val_accuracy": val_accuracy, "epochs_trained": epoch}
        if improved:
            best.update(val_accuracy=val_accuracy, test_accuracy=evaluate(model, task.test), best_epoch=epoch)
            with tempfile.TemporaryDirectory(prefix="verified-") as directory:
                save_file({name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}, Path(directory) / WEIGHTS_FILE)
                (Path(directory) / EPOCH_FILE).write_text(json.dumps({"epoch": epoch, **{k: best[k] for k in ("val_accuracy", "test_accuracy")}}))
                job_files.publish_dir(Path(directory), weights_at, last=EPOCH_FILE)
            best["weights"] = join(weights_at, WEIGHTS_FILE)
        tune.report({**metrics, **best, "seconds": time.perf_counter() - started})

    train_keeping_best(model, task, setup["epochs"], lr=setup["lr"], batch_size=setup["batch_size"], seed=setup["seed"], include_start=False, on_epoch=report)


def run_verification(
    store: Store,
    job_id: int,
    claim: Claim,
    spec: JobSpec,
    checkpoint: str,
    job_files: JobFiles,
    verified: str,
    candidates: Sequence[CandidateRecord],
    storage: Path,
    concurrency: int,
    should_stop: Callable[[], bool],
) -> int:
    """Train `candidates` standalone as one Tune experiment (its state under `storage`, on this
    machine), from the supernet at `checkpoint`, their weights going under `verified` in the
    artifact root; each trial's result is committed as it ends. Returns how many were verified;
    stops early (leaving the rest unverified) when `should_stop()` turns true. ClaimLost
    propagates once the experiment ends."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    settings: VerifySpec = spec.verify  # type: ignore[assignment]  # the caller checks it is set
    assert settings.epochs is not None  # resolved at submission
    setup = {
        "checkpoint": checkpoint, "job_files": job_files, "verified": verified, "init": settings.init, "epochs": settings.epochs, "lr": settings.lr, "batch_size": settings.batch_size, "seed": spec.seed,
        "threads": max(1, int(spec.resources.verify.cpus)),
    }  # fmt: skip
    scheduler = (
        ASHAScheduler(time_attr="training_iteration", max_t=settings.epochs, grace_period=max(1, settings.epochs // 2), reduction_factor=ASHA_REDUCTION)
        if settings.early_stop and len(candidates) > 1
        else FIFOScheduler()
    )
    # Tune's console reporter would print tables into the user's terminal: the job's events say it all.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # SIGINT must stop a coordinator (or `nas run`) here as anywhere else. Tune's own handler would
    # swallow it, and stays installed after fit() returns: a coordinator stopped later ran on and
    # claimed new jobs until it was killed.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    committer = _Committer(store, claim, settings)
    trainable = tune.with_resources(tune.with_parameters(verify_trial, setup=setup), tune_resources(spec.resources.verify))
    tuner = tune.Tuner(
        trainable,
        param_space={"candidate": tune.grid_search([{"id": c.id, "number": c.seq, "arch": c.arch} for c in candidates])},
        tune_config=tune.TuneConfig(
            metric="epoch_val_accuracy", mode="max", scheduler=scheduler, max_concurrent_trials=max(1, concurrency), reuse_actors=False,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
        ),  # fmt: skip
        run_config=tune.RunConfig(
            name=f"verify-claim-{claim.epoch}",  # a fresh experiment per claim: a resumed job verifies only what is missing
            storage_path=str(storage.resolve()),
            callbacks=[committer],
            stop=_StopWhen(should_stop),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=0,
        ),
    )
    tuner.fit()
    if committer.claim_lost is not None:
        raise committer.claim_lost
    return committer.verified


def _trial_name(trial: Any) -> str:
    return f"candidate-{trial.config['candidate']['number']}"


class _Committer(tune.Callback):
    """Commits each trial's result to the store as the trial ends."""

    def __init__(self, store: Store, claim: Claim, settings: VerifySpec):
        self.store, self.claim, self.settings = store, claim, settings
        self.verified, self.claim_lost = 0, None
        self.lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks into the experiment's state file; a store (engine, locks)
        # does not pickle, and a fresh experiment is started on resume anyway.
        return {}

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._commit(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        number = trial.config["candidate"]["number"]
        logger.warning("job %d: verifying candidate %d failed (%s)", self.claim.job_id, number, trial.error_file)
        self.store.add_event(self.claim.job_id, EventKind.VERIFY_FAILED, f"verifying candidate {number} failed; it stays unverified", {"candidate": number})

    def _commit(self, trial: Any) -> None:
        result, candidate_id, number = trial.last_result or {}, trial.config["candidate"]["id"], trial.config["candidate"]["number"]
        if not result.get("epochs_trained"):
            return  # stopped before its first epoch ended (the job was cancelled): nothing to commit
        weights = result.get("weights")  # in the artifact root: trials report no Tune checkpoints
        figures = {
            "init": self.settings.init, "val_accuracy": result["val_accuracy"], "test_accuracy": result["test_accuracy"],
            "best_epoch": result["best_epoch"], "epochs_trained": result["epochs_trained"], "epochs": self.settings.epochs,
            "seconds": result["seconds"], "weights": weights,
        }  # fmt: skip
        with self.lock:
            try:
                record = self.store.record_verification(candidate_id, figures, claim=self.claim)
            except ClaimLost as exc:
                self.claim_lost = exc
                return
            except InvalidTransition:  # verified under an earlier claim meanwhile
                return
            self.verified += 1
        early = f", stopped early after {record.epochs_trained} of {record.epochs} epochs" if record.stopped_early else ""
        self.store.add_event(
            self.claim.job_id, EventKind.VERIFIED,
            f"candidate {number} verified: validation {ACCURACY.format(record.val_accuracy)} (epoch {record.best_epoch}), "
            f"test {ACCURACY.format(record.test_accuracy)}{early}; {record.seconds:.0f} s",
            {"candidate": number, **figures},
        )  # fmt: skip


class _StopWhen(tune.Stopper):
    """Ends the whole experiment once `should_stop()` is true (asked at most every STOP_POLL_S
    seconds: it reads the store)."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop
        self.asked_at, self.stopped = 0.0, False

    def __getstate__(self) -> dict[str, Any]:
        return {}  # as _Committer's: pickled into the state file, never restored

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        now = time.monotonic()
        if not self.stopped and now - self.asked_at >= STOP_POLL_S:
            self.asked_at, self.stopped = now, self.should_stop()
        return self.stopped
