"""The optimizer and learning-rate schedule shared by supernet and standalone training."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def learning_rate(base: float, step: int, total: int, warmup: float) -> float:
    """Linear warm-up over the first `warmup` share of `total` steps, then cosine decay to 0.
    Transformers trained from scratch on small data sit at chance for epochs without the warm-up."""
    warmup_steps = max(1, round(warmup * total))
    if step < warmup_steps:
        return base * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total - warmup_steps)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))



def adamw(params: Iterable[torch.nn.Parameter], device: torch.device, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW, fused where PyTorch has the kernel: on CPU the default steps each of a supernet's
    few hundred tensors with a dozen small ops (docs/benchmarks/supernet.md)."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=device.type in ("cpu", "cuda"))
