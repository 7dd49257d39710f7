"""Weight-sharing supernets: one set of tensors holds every architecture of a configured space.

A space's supernet keeps its tensors at the largest shapes its choices allow and implements one
method, `sliced_state(arch)`: the state dict of the standalone model `space.build(arch)` made of
slices (views) of those tensors, first-k channels / heads / rows, per operation where operations
differ. Everything else follows from it:

- `forward(x, arch)` runs the standalone model's forward function (each model module is a thin
  holder of parameters around a function over a name -> tensor mapping) on the sliced tensors,
  so a subnet computes exactly what its standalone model computes, gradients land in the shared
  tensors, and no per-architecture module is built on the training hot path;
- `extract(arch)` builds the standalone model and loads copies of the same slices with
  `strict=True`, so every parameter is accounted for and none is dead.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from search_spaces.base import Architecture, SearchSpace, TaskShape

A = TypeVar("A", bound=Architecture)


def linear_parameters(out_features: int, in_features: int, *leading: int) -> tuple[nn.Parameter, nn.Parameter]:
    """Weight and bias initialised as `nn.Linear(in_features, out_features)` would be."""
    bound = 1 / math.sqrt(in_features)
    weight = nn.Parameter(torch.empty(*leading, out_features, in_features).uniform_(-bound, bound))
    bias = nn.Parameter(torch.empty(*leading, out_features).uniform_(-bound, bound))
    return weight, bias


def conv_parameters(out_channels: int, in_channels: int, kernel: tuple[int, ...], bias: bool = True) -> tuple[nn.Parameter, nn.Parameter | None]:
    """Weight (and bias) initialised as a `nn.Conv*d` with these shapes would be."""
    fan_in = in_channels * math.prod(kernel)
    bound = 1 / math.sqrt(fan_in)
    weight = nn.Parameter(torch.empty(out_channels, in_channels, *kernel).uniform_(-bound, bound))
    return weight, (nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None)


def norm_parameters(dim: int) -> tuple[nn.Parameter, nn.Parameter]:
    return nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim))


class Supernet(nn.Module, ABC, Generic[A]):
    """Base of the spaces' supernets; see the module docstring."""

    def __init__(self, space: SearchSpace, task: TaskShape):
        super().__init__()
        self.space = space
        self.task = task
        self._checked: set[str] = set()

    @abstractmethod
    def sliced_state(self, arch: A) -> dict[str, torch.Tensor]:
        """The standalone model's state dict for `arch`, as slices of the shared tensors."""

    def check(self, arch: A) -> A:
        """`arch` if it belongs to the supernet's space (checked once per architecture)."""
        if arch.arch_id not in self._checked:
            self.space.check(arch)
            self._checked.add(arch.arch_id)
        return arch

    @abstractmethod
    def run(self, inputs: torch.Tensor, params: dict[str, torch.Tensor], arch: A, **kwargs: Any) -> torch.Tensor:
        """The standalone model's forward function applied to `params` (its state-dict names)."""

    def forward(self, inputs: torch.Tensor, arch: A, **kwargs: Any) -> torch.Tensor:
        self.check(arch)
        return self.run(inputs, self.sliced_state(arch), arch, **kwargs)

    def extract(self, arch: A) -> nn.Module:
        """The standalone model of `arch` with weights copied from the supernet (same device)."""
        self.check(arch)
        with torch.no_grad():
            state = {name: tensor.detach().clone() for name, tensor in self.sliced_state(arch).items()}
        # Built on the meta device (no random init to throw away), then given the copied tensors.
        with torch.device("meta"):
            model = self.space.build(arch, self.task)
        model.load_state_dict(state, strict=True, assign=True)
        return model.train(self.training)


@torch.no_grad()
def parity_max_abs_diff(supernet: Supernet, archs: list[A], inputs: torch.Tensor) -> float:
    """Largest |standalone(x) - supernet(x, arch)| over `archs`, both in eval mode."""
    was_training = supernet.training
    supernet.eval()
    worst = 0.0
    try:
        for arch in archs:
            worst = max(worst, (supernet.extract(arch).eval()(inputs) - supernet(inputs, arch)).abs().max().item())
    finally:
        supernet.train(was_training)
    return worst
