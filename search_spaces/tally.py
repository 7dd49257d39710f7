"""A running tally of parameters and FLOPs, used by the spaces' analytic cost models."""

from __future__ import annotations

from search_spaces.base import Cost


class CostTally:
    """Adds up parameters and FLOPs of the pieces of a network, one example at a time."""

    def __init__(self) -> None:
        self.params = 0
        self.flops = 0

    def linear(self, d_in: int, d_out: int, tokens: int, bias: bool = True) -> None:
        self.params += d_in * d_out + (d_out if bias else 0)
        self.flops += 2 * tokens * d_in * d_out

    def matmul(self, m: int, k: int, n: int, batch: int = 1) -> None:
        """A product of (m x k) and (k x n) matrices, `batch` times, with no parameters."""
        self.flops += 2 * batch * m * k * n

    def norm(self, dim: int) -> None:
        self.params += 2 * dim

    def add_params(self, count: int) -> None:
        self.params += count

    def add_flops(self, count: int) -> None:
        self.flops += count

    def result(self) -> Cost:
        return Cost(params=self.params, flops=self.flops)
