"""Weight-sharing supernets: one set of tensors holds every architecture of a configured space.

A space's supernet keeps its tensors at the largest shapes its choices allow and implements one
method, `sliced_state(arch)`: the state dict of the standalone model `space.build(arch)` made of
slices (views) of those tensors, first-k channels / heads / rows, per operation where operations
differ. Everything else follows from it:

- `forward(x, arch)` runs the standalone model's own code on the sliced tensors
  (`torch.func.functional_call` on a parameter-free template), so a subnet computes exactly what
  its standalone model computes and gradients land in the shared tensors;
- `extract(arch)` builds the standalone model and loads copies of the same slices with
  `strict=True`, so every parameter is accounted for and none is dead.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import torch
from torch import nn
from torch.func import functional_call

from search_spaces.base import Architecture, SearchSpace, TaskShape

A = TypeVar("A", bound=Architecture)

TEMPLATE_CACHE_SIZE = 256


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
        self._templates: OrderedDict[tuple[str, str], nn.Module] = OrderedDict()
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

    def template(self, arch: A) -> nn.Module:
        """A parameter-free (meta device) standalone model of `arch`, cached by id."""
        return self.cached_template("model", arch, lambda: self.space.build(arch, self.task))

    def cached_template(self, kind: str, arch: A, make: Callable[[], nn.Module]) -> nn.Module:
        """`make()` on the meta device, kept in a small LRU cache under (kind, arch id)."""
        key = (kind, arch.arch_id)
        if key in self._templates:
            self._templates.move_to_end(key)
            return self._templates[key]
        with torch.device("meta"):
            module = make()
        self._templates[key] = module
        if len(self._templates) > TEMPLATE_CACHE_SIZE:
            self._templates.popitem(last=False)
        return module

    def forward(self, inputs: torch.Tensor, arch: A, **kwargs: Any) -> torch.Tensor:
        self.check(arch)
        module = self.template(arch)
        module.train(self.training)
        return functional_call(module, self.sliced_state(arch), (inputs,), kwargs, strict=True)

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
