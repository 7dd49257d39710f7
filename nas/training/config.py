"""The supernet trainer's configuration. Every setting a user chooses comes from the job spec's
supernet section (`nas.job.schema.SupernetSpec`), whose defaults are the only ones: `from_spec`
is how the service and `nas supernet train` build a config. The knobs below with defaults are
internal (masking rate, schedule shape, regularisation)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.job.schema import SupernetSpec


@dataclass(frozen=True)
class TrainConfig:
    epochs: int  # supervised epochs
    batch_size: int
    archs_per_step: int  # subnets per optimizer step, each on its own slice of the batch
    sandwich: bool  # include the largest and the smallest subnet in every step
    warmup_epochs: int  # curriculum: epochs over which choice sets widen from the largest values
    mlm_epochs: int  # text tasks: masked-language-model pretraining epochs first
    lr: float
    seed: int
    # In-place distillation (BigNAS / OFA): the largest subnet learns from the labels on the whole
    # batch, the others from its predictions on their own slices (needs the sandwich rule's
    # largest subnet); a step then costs about twice a plain one.
    distill: bool = False
    mask_prob: float = 0.15
    lr_warmup: float = 0.1  # share of all steps with a linear warm-up (then cosine decay to 0)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    device: str = "auto"  # "auto" picks CUDA when available

    @classmethod
    def from_spec(cls, settings: SupernetSpec, task_kind: str, seed: int, device: str = "auto", train_examples: int | None = None) -> TrainConfig:
        """The config for a spec's supernet section on a task of `task_kind` (text | image) with
        `train_examples` training examples, its task-dependent defaults filled as at submission."""
        settings = settings.resolved(task_kind, train_examples)
        assert settings.epochs is not None and settings.archs_per_step is not None and settings.sandwich is not None and settings.warmup_epochs is not None  # resolved
        return cls(
            epochs=settings.epochs, batch_size=settings.batch_size, archs_per_step=settings.archs_per_step, sandwich=settings.sandwich,
            warmup_epochs=settings.warmup_epochs, mlm_epochs=settings.mlm_epochs, lr=settings.lr, seed=seed, device=device, distill=settings.distill,
        )  # fmt: skip

    def __post_init__(self) -> None:
        problems = []
        for name in ("epochs", "warmup_epochs", "mlm_epochs"):
            if getattr(self, name) < 0:
                problems.append(f"{name}: {getattr(self, name)} must be >= 0")
        for name in ("batch_size", "archs_per_step"):
            if getattr(self, name) < 1:
                problems.append(f"{name}: {getattr(self, name)} must be >= 1")
        if self.archs_per_step > self.batch_size:
            problems.append(f"archs_per_step: {self.archs_per_step} exceeds batch_size={self.batch_size} (each subnet needs examples)")
        if self.sandwich and self.archs_per_step < 2:
            problems.append("sandwich: needs archs_per_step >= 2 (largest and smallest)")
        if self.distill and not self.sandwich:
            problems.append("distill: needs sandwich (the largest subnet of every step is the teacher)")
        if not 0 < self.mask_prob < 1:
            problems.append(f"mask_prob: {self.mask_prob} must be within (0, 1)")
        if self.lr <= 0:
            problems.append(f"lr: {self.lr} must be > 0")
        if not 0 <= self.lr_warmup < 1:
            problems.append(f"lr_warmup: {self.lr_warmup} must be within [0, 1)")
        if problems:
            raise ValueError("; ".join(problems))

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)
