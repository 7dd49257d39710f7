"""Small functional building blocks of the model forwards: parameters are looked up by name in a
mapping (a module's own parameters, or a supernet's slices)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

Params = Mapping[str, torch.Tensor]


def linear(x: torch.Tensor, p: Params, name: str) -> torch.Tensor:
    return F.linear(x, p[name + ".weight"], p[name + ".bias"])


def layer_norm(x: torch.Tensor, p: Params, name: str) -> torch.Tensor:
    return F.layer_norm(x, p[name + ".weight"].shape, p[name + ".weight"], p[name + ".bias"])


def apply_dropout(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    return F.dropout(x, rate, training) if training and rate > 0 else x  # no op recorded when off
