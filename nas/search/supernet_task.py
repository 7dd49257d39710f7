"""The Ray task that trains a job's supernet, checkpointing and checking it every epoch (resumes a
partial run). It runs on whichever node Ray picks: it reads and writes the job's checkpoint in
the artifact root through `JobFiles`, training in a directory of its own node."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from nas.artifacts import JobFiles, is_uri, join, node_cache
from nas.job.schema import JobSpec


def train_supernet(spec: JobSpec, location: str, job_files: JobFiles) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Train `spec`'s supernet into the checkpoint at `location`, resuming the checkpoint found
    there, then check that it learned (`nas.training.health`). Returns the step it started from
    (0 for a fresh run), the check's figures and where it ran (`where_am_i`)."""
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
    in_place = not is_uri(location) and job_files.direct  # the root is this machine's: train right there
    directory = Path(location) if in_place else node_cache() / "training" / hashlib.sha256(location.encode()).hexdigest()[:16]
    resuming = job_files.files.exists(join(location, META_FILE))
    if not in_place:
        shutil.rmtree(directory, ignore_errors=True)
        if resuming:
            shutil.copytree(job_files.fetch_dir(location, META_FILE), directory)
    tokenizer = directory / TOKENIZER_FILE
    task_spec = spec.task.to_load_spec()
    data = load_task(job_files.localize(task_spec), seed=spec.seed, max_train=settings.max_train, tokenizer_file=str(tokenizer) if resuming and tokenizer.is_file() else None)
    data.source["spec"] = task_spec  # as the job names it: the same on every node
    if resuming:
        trainer = SupernetTrainer.resume(directory, data, device=device)
    else:
        config = TrainConfig.from_spec(settings, data.kind, seed=spec.seed, device=device, train_examples=len(data.train))
        trainer = SupernetTrainer(spec.search_space(), data, config)

    def publish(saved: Path) -> None:
        job_files.publish_dir(saved, location, last=META_FILE)

    started_at = trainer.position.global_step
    trainer.train(
        show_progress=False, checkpoint_dir=directory, checkpoint_every=trainer.steps_per_epoch(), epoch_check=epoch_check(data.val, spec.seed),
        on_checkpoint=None if in_place else publish,
    )  # fmt: skip
    return started_at, check_supernet(trainer.supernet, data.val, seed=spec.seed).to_dict(), where_am_i()

