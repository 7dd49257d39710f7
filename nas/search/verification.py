"""The verified stage: after the search, top_k candidates of a job spread along its front train standalone,
as a Ray Tune experiment with one trial per candidate, so that the front a user sees rests on real
trainings and not only on inherited weights. Members of the space's plain family train beside them
(and every one of them with more seeds, when asked) in a second experiment, without early stops:
the references a verdict compares the candidates with.

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
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ray import tune

from nas.artifact_root import JobFiles
from nas.job.metrics import ACCURACY
from nas.job.schema import JobSpec, VerifySpec
from nas.search.resources import tune_resources
from nas.store import Claim, ClaimLost, EventKind, InvalidTransition, Store

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
EPOCH_FILE = "epoch.json"  # written after the weights: the epoch they are of
# One rung, at half the epochs, keeps the better half: every trial trains at least half its
# epochs (with a few trials, earlier rungs stop good ones on noise).
ASHA_REDUCTION = 2
STOP_POLL_S = 1.0  # how often the experiment asks whether the job was cancelled


@dataclass(frozen=True)
class Subject:
    """What one trial trains: a candidate or a plain-family reference, with one seed."""

    kind: Literal["candidate", "reference"]
    store_id: int  # the candidate's or the reference's id in the store
    label: str  # "candidate 12", "plain-S": how events name it
    arch: dict[str, Any]
    seed: int
    # The candidate's training with the job's seed is its verification: its weights are kept
    # (the verified front and `nas export` use them); other trainings keep figures only.
    keeps_weights: bool = False

    @property
    def name(self) -> str:
        """Its trial's name and weights directory: candidate-12, plain-S, candidate-12-seed-1."""
        base = self.label.replace(" ", "-")
        return base if self.keeps_weights else f"{base}-seed-{self.seed}"


def verify_trial(config: dict[str, Any], setup: dict[str, Any]) -> None:
    """One Tune trial: `config["subject"]` (a Subject as a dict) trained standalone as `setup`
    says (checkpoint, job_files, verified: where weights go, init, epochs, lr, batch_size). A
    candidate's verification publishes its weights at each new best epoch to the artifact root,
    from whichever node it runs on."""
    import torch
    from safetensors.torch import save_file

    from nas.artifact_root import join
    from nas.search.resources import assigned_device
    from nas.training.checkpoint import open_checkpoint
    from nas.training.standalone import evaluate, train_keeping_best

    torch.set_num_threads(setup["threads"])
    device = assigned_device()
    job_files = setup["job_files"]
    supernet, _, task = open_checkpoint(setup["checkpoint"], job_files, device=device)
    space = supernet.space
    subject = Subject(**config["subject"])
    arch = space.validate(subject.arch)
    if setup["init"] == "inherited":
        model = supernet.extract(arch)
    else:
        with torch.random.fork_rng(devices=[]):  # same seed, same initial weights
            torch.manual_seed(subject.seed)
            model = space.build(arch, task.shape).to(device)
    del supernet
    weights_at = join(setup["verified"], subject.name)
    started = time.perf_counter()
    best: dict[str, Any] = {"val_accuracy": float("nan"), "test_accuracy": float("nan"), "best_epoch": 0, "weights": None}

    def report(epoch: int, val_accuracy: float, improved: bool) -> None:
        metrics = {"epoch_val_accuracy": val_accuracy, "epochs_trained": epoch}
        if improved:
            best.update(val_accuracy=val_accuracy, test_accuracy=evaluate(model, task.test), best_epoch=epoch)
        if improved and subject.keeps_weights:
            with tempfile.TemporaryDirectory(prefix="verified-") as directory:
                save_file({name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}, Path(directory) / WEIGHTS_FILE)
                (Path(directory) / EPOCH_FILE).write_text(json.dumps({"epoch": epoch, **{k: best[k] for k in ("val_accuracy", "test_accuracy")}}))
                job_files.publish_dir(Path(directory), weights_at, last=EPOCH_FILE)
            best["weights"] = join(weights_at, WEIGHTS_FILE)
        tune.report({**metrics, **best, "test_examples": len(task.test), "seconds": time.perf_counter() - started})

    train_keeping_best(model, task, setup["epochs"], lr=setup["lr"], batch_size=setup["batch_size"], seed=subject.seed, include_start=False, on_epoch=report)


def run_verification(
    store: Store,
    job_id: int,
    claim: Claim,
    spec: JobSpec,
    checkpoint: str,
    job_files: JobFiles,
    verified: str,
    subjects: Sequence[Subject],
    storage: Path,
    concurrency: int,
    should_stop: Callable[[], bool],
    early_stop: bool,
) -> int:
    """Train `subjects` standalone as one Tune experiment (its state under
    `storage`, on this machine), from the supernet at `checkpoint`, verifications' weights going
    under `verified` in the artifact root; each trial's result is committed as it ends; ASHA
    stops trailing trials when `early_stop`. Returns how many were committed; stops early
    (leaving the rest untrained) when `should_stop()` turns true. ClaimLost propagates once the
    experiment ends."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    settings: VerifySpec = spec.verify  # type: ignore[assignment]  # the caller checks it is set
    assert settings.epochs is not None  # resolved at submission
    setup = {
        "checkpoint": checkpoint, "job_files": job_files, "verified": verified, "init": settings.init, "epochs": settings.epochs, "lr": settings.lr, "batch_size": settings.batch_size,
        "threads": max(1, int(spec.resources.verify.cpus)),
    }  # fmt: skip
    scheduler = (
        ASHAScheduler(time_attr="training_iteration", max_t=settings.epochs, grace_period=max(1, settings.epochs // 2), reduction_factor=ASHA_REDUCTION)
        if early_stop and len(subjects) > 1
        else FIFOScheduler()
    )
    committer = _Committer(store, claim, settings)
    trainable = tune.with_resources(tune.with_parameters(verify_trial, setup=setup), tune_resources(spec.resources.verify))
    tuner = tune.Tuner(
        trainable,
        param_space={"subject": tune.grid_search([asdict(subject) for subject in subjects])},
        tune_config=tune.TuneConfig(
            metric="epoch_val_accuracy", mode="max", scheduler=scheduler, max_concurrent_trials=max(1, concurrency), reuse_actors=False,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
        ),  # fmt: skip
        run_config=tune.RunConfig(
            name=f"verify-claim-{claim.epoch}",  # a fresh experiment per claim: a resumed job trains only what is missing
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
    return Subject(**trial.config["subject"]).name


class _Committer(tune.Callback):
    """Commits each trial's result to the store as the trial ends: every training as a Training,
    a candidate's with the job's seed also as its Verification (with its weights)."""

    def __init__(self, store: Store, claim: Claim, settings: VerifySpec):
        self.store, self.claim, self.settings = store, claim, settings
        self.several_seeds = settings.seeds > 1
        self.verified, self.claim_lost = 0, None
        self.lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks into the experiment's state file; a store (engine, locks)
        # does not pickle, and a fresh experiment is started on resume anyway.
        return {}

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._commit(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        subject = Subject(**trial.config["subject"])
        logger.warning("job %d: training %s (seed %d) failed (%s)", self.claim.job_id, subject.label, subject.seed, trial.error_file)
        self.store.add_event(self.claim.job_id, EventKind.VERIFY_FAILED, f"training {subject.label} (seed {subject.seed}) failed; it stays untrained", _about(subject))

    def _commit(self, trial: Any) -> None:
        result, subject = trial.last_result or {}, Subject(**trial.config["subject"])
        if not result.get("epochs_trained"):
            return  # stopped before its first epoch ended (the job was cancelled): nothing to commit
        figures = {
            "init": self.settings.init, "val_accuracy": result["val_accuracy"], "test_accuracy": result["test_accuracy"],
            "best_epoch": result["best_epoch"], "epochs_trained": result["epochs_trained"], "epochs": self.settings.epochs,
            "seconds": result["seconds"],
        }  # fmt: skip
        trained = {**figures, "test_examples": result["test_examples"]}
        ids = {"candidate_id": subject.store_id} if subject.kind == "candidate" else {"reference_id": subject.store_id}
        with self.lock:
            try:
                if subject.keeps_weights:  # weights in the artifact root: trials report no Tune checkpoints
                    self.store.record_verification(subject.store_id, {**figures, "weights": result.get("weights")}, claim=self.claim)
                self.store.record_training(self.claim.job_id, trained, seed=subject.seed, claim=self.claim, **ids)
            except ClaimLost as exc:
                self.claim_lost = exc
                return
            except InvalidTransition:  # committed under an earlier claim meanwhile
                return
            self.verified += 1
        stopped = figures["epochs_trained"] < figures["epochs"]
        early = f", stopped early after {figures['epochs_trained']} of {figures['epochs']} epochs" if stopped else ""
        seed = f" (seed {subject.seed})" if self.several_seeds or not subject.keeps_weights else ""
        done = "verified" if subject.kind == "candidate" else "trained"
        self.store.add_event(
            self.claim.job_id, EventKind.VERIFIED if subject.kind == "candidate" else EventKind.REFERENCE_TRAINED,
            f"{subject.label} {done}{seed}: validation {ACCURACY.format(figures['val_accuracy'])} (epoch {figures['best_epoch']}), "
            f"test {ACCURACY.format(figures['test_accuracy'])}{early}; {figures['seconds']:.0f} s",
            {**_about(subject), **figures, **({"weights": result.get("weights")} if subject.keeps_weights else {})},
        )  # fmt: skip


def _about(subject: Subject) -> dict[str, Any]:
    """An event's data naming the subject: {"candidate": 12} or {"reference": "plain-S"}, and the seed."""
    named: dict[str, Any] = {"candidate": int(subject.label.split()[-1])} if subject.kind == "candidate" else {"reference": subject.label}
    return {**named, "seed": subject.seed}


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
