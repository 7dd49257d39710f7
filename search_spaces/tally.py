"""A running tally of parameters and FLOPs, used by the spaces' analytic cost models.

Besides the totals it keeps, per kind of operator (`linear`, `matmul`, `conv`, `norm`), how many
operators a forward pass runs, their FLOPs and the elements they write: what a latency model
needs beyond total FLOPs, since at batch 1 on a CPU every operator costs a dispatch and small
products run far below the peak rate of large ones (`nas.export.latency_model`).
"""

from __future__ import annotations

from collections import Counter

from search_spaces.base import Cost

KINDS = ("linear", "matmul", "conv", "norm")


class CostTally:
    """Adds up parameters and FLOPs of the pieces of a network, one example at a time."""

    def __init__(self) -> None:
        self.params = 0
        self.flops = 0
        self.operators: Counter[str] = Counter()  # operator calls by kind
        self.kind_flops: Counter[str] = Counter()
        self.outputs: Counter[str] = Counter()  # elements written by kind

    def _operator(self, kind: str, flops: int, outputs: int) -> None:
        self.flops += flops
        self.operators[kind] += 1
        self.kind_flops[kind] += flops
        self.outputs[kind] += outputs

    def linear(self, d_in: int, d_out: int, tokens: int, bias: bool = True) -> None:
        self.params += d_in * d_out + (d_out if bias else 0)
        self._operator("linear", 2 * tokens * d_in * d_out, tokens * d_out)

    def matmul(self, m: int, k: int, n: int, batch: int = 1) -> None:
        """A product of (m x k) and (k x n) matrices, `batch` times, with no parameters."""
        self._operator("matmul", 2 * batch * m * k * n, batch * m * n)

    def conv(self, c_in: int, c_out: int, kernel: int, positions: int, groups: int = 1, bias: bool = True) -> None:
        """A convolution with `kernel` weights per input channel of a group (k*k for a k x k one),
        evaluated at `positions` output positions."""
        self.params += c_in // groups * c_out * kernel + (c_out if bias else 0)
        self._operator("conv", 2 * positions * c_in // groups * c_out * kernel, positions * c_out)

    def norm(self, dim: int, tokens: int = 1) -> None:
        self.params += 2 * dim
        self._operator("norm", 0, tokens * dim)

    def add_params(self, count: int) -> None:
        self.params += count

    def result(self) -> Cost:
        return Cost(params=self.params, flops=self.flops)
