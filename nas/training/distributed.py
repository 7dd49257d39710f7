"""Data-parallel supernet training: several processes share every step.

A step's subnets, each with its slice of the batch, are dealt out round-robin among the workers
(the sandwich's largest and smallest go to different workers). Each worker back-propagates its own
subnets; one all-reduce then sums the gradients, so every worker applies the update a single
process would have made from the whole step. A parameter no worker's subnet used keeps no
gradient, as in a single process (AdamW then leaves it and its moments alone).

torch's DistributedDataParallel wrapper is not used: it expects one forward pass per step and
reduces per bucket during backward, while a step here runs one forward per subnet, each touching
a different part of the shared weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """This process's place among `world` workers of an initialised process group."""

    rank: int
    world: int

    @classmethod
    def current(cls) -> Shard:
        return cls(rank=dist.get_rank(), world=dist.get_world_size())

    def mine(self, items: Sequence[T]) -> list[T]:
        """This worker's share of a step's (slice, subnet) pairs."""
        return list(items[self.rank :: self.world])

    def all_reduce_gradients(self, parameters: Iterable[torch.nn.Parameter], loss: float) -> float:
        """Sum every worker's gradients (and losses) in one collective call; returns the step's
        total loss. Each parameter's gradient becomes the sum, or None where no worker had one."""
        params = list(parameters)
        if not params:
            return loss
        device = params[0].device
        grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), device=device, dtype=p.dtype) for p in params]
        used = torch.tensor([p.grad is not None for p in params], device=device, dtype=grads[0].dtype)
        flat = torch.cat([*grads, used, torch.tensor([loss], device=device, dtype=grads[0].dtype)])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p in params:  # views into the reduced buffer: no copies
            p.grad, offset = flat[offset : offset + p.numel()].view_as(p), offset + p.numel()
        for p, was_used in zip(params, flat[offset : offset + len(params)].tolist()):
            if not was_used:
                p.grad = None
        return float(flat[-1].item())

    def gather(self, item: T) -> list[T]:
        """Every worker's `item`, in rank order, on every worker."""
        out: list[T | None] = [None] * self.world
        dist.all_gather_object(out, item)
        return out  # type: ignore[return-value]
