"""Scoring a model on a split, and plain supervised training of one model (fine-tuning an
extracted subnet, or training one from scratch as a reference)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from nas.tasks.data import Split
from nas.training.optim import adamw, learning_rate
from search_spaces import Architecture
from search_spaces.supernet import Supernet


@torch.no_grad()
def evaluate(model: Callable[..., torch.Tensor], split: Split, batch_size: int = 512, device: torch.device | None = None, **kwargs: Any) -> float:
    """Accuracy of `model(inputs, **kwargs)` on a split."""
    correct = 0
    for start in range(0, len(split), batch_size):
        inputs = split.inputs[start : start + batch_size]
        labels = split.labels[start : start + batch_size]
        if device is not None:
            inputs, labels = inputs.to(device), labels.to(device)
        correct += (model(inputs, **kwargs).argmax(-1) == labels).sum().item()
    return correct / max(1, len(split))


def evaluate_subnet(supernet: Supernet, arch: Architecture, split: Split, batch_size: int = 512) -> float:
    """Validation accuracy of `arch` with weights inherited from the supernet."""
    was_training = supernet.training
    supernet.eval()
    try:
        return evaluate(supernet, split, batch_size, next(supernet.parameters()).device, arch=arch)
    finally:
        supernet.train(was_training)


def train_standalone(
    model: torch.nn.Module, split: Split, epochs: int, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.01, lr_warmup: float = 0.1, seed: int = 0
) -> torch.nn.Module:
    """Plain supervised training of one model (fine-tuning an extracted subnet, or training one
    from scratch as a reference), with the same learning-rate schedule as supernet training."""
    device = next(model.parameters()).device
    optimizer = adamw(model.parameters(), device, lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = -(-len(split) // batch_size)
    step = 0
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(split), generator=generator)
        for start in range(0, len(split), batch_size):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(lr, step, epochs * steps_per_epoch, lr_warmup)
            step += 1
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(model(split.inputs[idx].to(device)), split.labels[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()
