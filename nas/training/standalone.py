"""Scoring a model on a split, and plain supervised training of one model (fine-tuning an
extracted subnet, or training one from scratch as a reference)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nas.tasks.data import Split, TaskData
from nas.training.optim import adamw, learning_rate
from search_spaces import Architecture
from search_spaces.supernet import Supernet


@torch.no_grad()
def evaluate(model: Callable[..., torch.Tensor], split: Split, batch_size: int = 512, device: torch.device | None = None, **kwargs: Any) -> float:
    """Accuracy of `model(inputs, **kwargs)` on a split, on `device` (default: a module's own)."""
    if device is None and isinstance(model, torch.nn.Module):
        device = next(model.parameters()).device
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
    return evaluate_subnets(supernet, [arch], split, batch_size)[0]


@torch.no_grad()
def evaluate_subnets(supernet: Supernet, archs: Sequence[Architecture], split: Split, batch_size: int = 512) -> list[float]:
    """The accuracy of each of `archs` with weights inherited from the supernet, in one pass over
    the split: every batch goes to the device once and through all of them."""
    was_training = supernet.training
    supernet.eval()
    device = next(supernet.parameters()).device
    correct = [0] * len(archs)
    try:
        for start in range(0, len(split), batch_size):
            inputs = split.inputs[start : start + batch_size].to(device)
            labels = split.labels[start : start + batch_size].to(device)
            for i, arch in enumerate(archs):
                correct[i] += (supernet(inputs, arch=arch).argmax(-1) == labels).sum().item()
    finally:
        supernet.train(was_training)
    return [c / max(1, len(split)) for c in correct]


def train_epochs(
    model: torch.nn.Module, split: Split, epochs: int, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.01, lr_warmup: float = 0.1, seed: int = 0
) -> Iterator[int]:
    """Plain supervised training of one model with the same learning-rate schedule as supernet
    training, yielding the number of epochs done after each (the caller may score the model
    between epochs; it is left in train mode for the next one)."""
    device = next(model.parameters()).device
    optimizer = adamw(model.parameters(), device, lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = -(-len(split) // batch_size)
    step = 0
    for epoch in range(epochs):
        model.train()
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
        yield epoch + 1


def train_standalone(
    model: torch.nn.Module, split: Split, epochs: int, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.01, lr_warmup: float = 0.1, seed: int = 0
) -> torch.nn.Module:
    """`train_epochs` to the end: the model after its last epoch, in eval mode."""
    for _ in train_epochs(model, split, epochs, batch_size, lr, weight_decay, lr_warmup, seed):
        pass
    return model.eval()


@dataclass
class BestEpoch:
    """What `train_keeping_best` chose: the epoch with the highest validation accuracy (0: the
    starting weights), and the validation accuracy of every epoch."""

    epoch: int
    val_accuracy: float
    start_val_accuracy: float
    history: list[float]  # validation accuracy after epochs 0 (start), 1, 2, ...

    @property
    def improved(self) -> bool:
        return self.epoch > 0 and self.val_accuracy > self.start_val_accuracy


def train_keeping_best(
    model: torch.nn.Module,
    task: TaskData,
    epochs: int,
    *,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    include_start: bool = True,
    on_epoch: Callable[[int, float, bool], None] | None = None,
) -> BestEpoch:
    """Train on the training split, score on validation after every epoch, and leave the model
    with the weights of its best epoch (eval mode). `include_start`: the starting weights compete
    too (fine-tuning never ends below where it began on validation); otherwise the best of the
    trained epochs wins. `on_epoch(epoch, val_accuracy, is_new_best)` runs after each epoch, with
    the model in its weights of that epoch and eval mode (a caller saves a new best there)."""
    device = next(model.parameters()).device
    start = evaluate(model.eval(), task.val, device=device)
    history = [start]
    best_epoch, best_val, best_state = (0, start, _copy_state(model)) if include_start else (0, -1.0, None)
    with torch.random.fork_rng(devices=[]):  # dropout draws: same seed, same model
        torch.manual_seed(seed)
        for epoch in train_epochs(model, task.train, epochs, batch_size=batch_size, lr=lr, seed=seed):
            val = evaluate(model.eval(), task.val, device=device)
            history.append(val)
            improved = val > best_val
            if improved:
                best_epoch, best_val, best_state = epoch, val, _copy_state(model)
            if on_epoch is not None:
                on_epoch(epoch, val, improved)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return BestEpoch(epoch=best_epoch, val_accuracy=best_val, start_val_accuracy=start, history=history)


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
