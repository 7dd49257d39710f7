"""The Ray task that trains a job's supernet, checkpointing and checking it every epoch (resumes a
partial run). It runs on whichever node Ray picks: it reads and writes the job's checkpoint in
the artifact root through `JobFiles`, training in a directory of its own node.

With `supernet.workers: N` above 1 the task drives a Ray Train `TorchTrainer` of N workers
(gloo on CPUs, NCCL on GPUs), each placed with `resources.supernet` (`nas.training.distributed`
says how a step is shared). Worker 0 checks, checkpoints and publishes; every worker resumes from
the same checkpoint."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from nas.artifact_root import JobFiles, is_uri, join, node_cache
from nas.job.schema import JobSpec
from nas.training.distributed import Shard

Outcome = tuple[int, dict[str, Any], dict[str, Any]]  # (step it started from, health check, where it ran)


def train_supernet(spec: JobSpec, location: str, job_files: JobFiles, stop_after: int | None = None) -> Outcome:
    """Train `spec`'s supernet into the checkpoint at `location`, resuming the checkpoint found
    there, then check that it learned (`nas.training.health`). Returns the step it started from
    (0 for a fresh run), the check's figures and where it ran (`where_am_i`). `stop_after`:
    train only that many more steps (a test's stand-in for a crash)."""
    if spec.supernet_settings.workers > 1:
        return _train_with_ray_train(spec, location, job_files, stop_after)
    return _train(spec, location, job_files, None, stop_after)


def _train(spec: JobSpec, location: str, job_files: JobFiles, shard: Shard | None, stop_after: int | None) -> Outcome:
    """One process's part: all of the training, or worker `shard.rank`'s share of it."""
    import torch

    from nas.search.resources import assigned_device, where_am_i
    from nas.tasks.data import load_task
    from nas.training.checkpoint import META_FILE, TOKENIZER_FILE
    from nas.training.config import TrainConfig
    from nas.training.health import check_supernet, epoch_check
    from nas.training.trainer import SupernetTrainer

    torch.set_num_threads(max(1, int(spec.resources.supernet.cpus)))  # the CPUs Ray gave this task
    device = assigned_device()
    settings = spec.supernet_settings
    lead = shard is None or shard.rank == 0  # the one that checks, checkpoints and publishes
    resuming = job_files.files.exists(join(location, META_FILE))
    in_place = lead and not is_uri(location) and job_files.direct  # the root is this machine's: train right there
    if in_place:
        directory = Path(location)
    elif lead:
        directory = node_cache() / "training" / hashlib.sha256(location.encode()).hexdigest()[:16]
        shutil.rmtree(directory, ignore_errors=True)
        if resuming:
            shutil.copytree(job_files.fetch_dir(location, META_FILE), directory)
    else:  # reads the checkpoint (if any) once, writes nothing
        directory = job_files.local_dir(location, META_FILE) if resuming else None
    tokenizer = directory / TOKENIZER_FILE if resuming and directory is not None else None
    task_spec = spec.task.to_load_spec()
    data = load_task(job_files.localize(task_spec), seed=spec.seed, max_train=settings.max_train, tokenizer_file=str(tokenizer) if tokenizer is not None and tokenizer.is_file() else None)
    data.source["spec"] = task_spec  # as the job names it: the same on every node
    if resuming:
        assert directory is not None
        trainer = SupernetTrainer.resume(directory, data, device=device, shard=shard)
    else:
        config = TrainConfig.from_spec(settings, data.kind, seed=spec.seed, device=device, train_examples=len(data.train))
        trainer = SupernetTrainer(spec.search_space(), data, config, shard=shard)

    def publish(saved: Path) -> None:
        job_files.publish_dir(saved, location, last=META_FILE)

    started_at = trainer.position.global_step
    trainer.train(
        show_progress=False, checkpoint_dir=directory if lead else None, checkpoint_every=trainer.steps_per_epoch(),
        epoch_check=epoch_check(data.val, spec.seed) if lead else None, on_checkpoint=None if in_place else publish, stop_after=stop_after,
    )  # fmt: skip
    where: dict[str, Any] = where_am_i()
    if shard is not None:
        where = {**where, "workers": shard.gather(where)}
    health = check_supernet(trainer.supernet, data.val, seed=spec.seed).to_dict() if lead else {}
    return started_at, health, where


def _train_with_ray_train(spec: JobSpec, location: str, job_files: JobFiles, stop_after: int | None) -> Outcome:
    """Drive a TorchTrainer of `supernet.workers` workers and return worker 0's outcome."""
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from nas.search.resources import ask_of

    # Ray Train keeps metrics only with checkpoints of its own, which it would copy to shared
    # storage; worker 0 hands its outcome to this small actor instead.
    box = ray.remote(num_cpus=0)(_OutcomeBox).remote()

    def worker_loop(config: dict[str, Any]) -> None:
        shard = Shard.current()
        outcome = _train(config["spec"], config["location"], config["job_files"], shard, config["stop_after"])
        if shard.rank == 0:
            ray.get(config["box"].put.remote(outcome))

    # Ray Train keeps only its run state here (on this task's node, where its controller runs),
    # removed after the run: the checkpoints are ours, in the artifact root.
    storage = node_cache() / "ray-train"
    name = f"supernet-{hashlib.sha256(location.encode()).hexdigest()[:16]}"
    storage.mkdir(parents=True, exist_ok=True)
    stage = spec.resources.supernet
    trainer = TorchTrainer(
        worker_loop,
        train_loop_config={"spec": spec, "location": location, "job_files": job_files, "stop_after": stop_after, "box": box},
        scaling_config=ScalingConfig(num_workers=spec.supernet_settings.workers, use_gpu=bool(stage.gpus), resources_per_worker=ask_of(stage)),
        run_config=RunConfig(storage_path=str(storage), name=name, failure_config=FailureConfig(max_failures=0)),
    )  # fmt: skip
    try:
        trainer.fit()
    finally:
        shutil.rmtree(storage / name, ignore_errors=True)
    outcome = ray.get(box.get.remote())
    if outcome is None:
        raise RuntimeError("supernet training ended without worker 0's outcome")
    return outcome


class _OutcomeBox:
    def __init__(self) -> None:
        self.outcome: Outcome | None = None

    def put(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def get(self) -> Outcome | None:
        return self.outcome
