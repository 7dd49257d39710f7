"""The Ray task that trains a job's supernet, checkpointing and checking it every epoch (resumes a
partial run)."""

from __future__ import annotations

from pathlib import Path

from nas.job.schema import JobSpec


def train_supernet(spec: JobSpec, checkpoint_dir: str) -> tuple[int, dict]:
    """Train `spec`'s supernet into `checkpoint_dir`, resuming a checkpoint found there, then check
    that it learned (`nas.training.health`). Returns the step it started from (0 for a fresh run)
    and the check's figures."""
    import torch

    from nas.search.resources import assigned_device
    from nas.tasks.data import load_task
    from nas.training.config import TrainConfig
    from nas.training.trainer import SupernetTrainer

    torch.set_num_threads(max(1, int(spec.resources.supernet.cpus)))  # the CPUs Ray gave this task
    device = assigned_device()
    settings = spec.supernet_settings
    data = load_task(spec.task.to_load_spec(), seed=spec.seed, max_train=settings.max_train)
    directory = Path(checkpoint_dir)
    if (directory / "checkpoint.json").exists():
        trainer = SupernetTrainer.resume(directory, data, device=device)
    else:
        config = TrainConfig.from_spec(settings, data.kind, seed=spec.seed, device=device, train_examples=len(data.train))
        trainer = SupernetTrainer(spec.search_space(), data, config)
    from nas.training.health import check_supernet, epoch_check

    started_at = trainer.position.global_step
    trainer.train(show_progress=False, checkpoint_dir=directory, checkpoint_every=trainer.steps_per_epoch(), epoch_check=epoch_check(data.val, spec.seed))
    return started_at, check_supernet(trainer.supernet, data.val, seed=spec.seed).to_dict()
