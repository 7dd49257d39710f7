"""Which members of the space's plain family a job trains beside its candidates: those that meet
the job's constraints, spread in size. They are scored by the job's evaluators once the search
ends (inherited accuracy, costs and latency measured like the candidates', on the same nodes) and
trained by the verified stage; never proposed, told to a strategy or counted as candidates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nas.job.schema import Constraints
from nas.results.pareto import spread_along
from search_spaces import SearchSpace, TaskShape
from search_spaces.base import PlainModel

_LIMITS = {"params": "params_max", "flops": "flops_max", "latency_ms": "latency_ms_max"}


def fitting_members(space: SearchSpace, shape: TaskShape, constraints: Constraints) -> tuple[list[PlainModel], list[str]]:
    """The plain family's members whose exact costs meet the params and FLOPs limits (smallest
    first), and a line for each one that does not."""
    fitting, left_out = [], []
    for member in space.plain_family():
        cost = space.cost(member.arch, shape).to_dict()
        over = over_limits(cost, constraints)
        if over:
            left_out.append(f"{member.name} ({over})")
        else:
            fitting.append(member)
    return fitting, left_out


def over_limits(metrics: Mapping[str, float], constraints: Constraints) -> str:
    """'params 2.10 M > 2.00 M' for each limit the metrics exceed, or ''."""
    from nas.job.metrics import metric

    over = []
    for name, field in _LIMITS.items():
        limit = getattr(constraints, field)
        if limit is not None and name in metrics and metrics[name] > limit:
            shown = metric(name)
            over.append(f"{shown.label} {shown.format(metrics[name])} > {shown.format(limit)}")
    return ", ".join(over)


def spread_in_size(params: Sequence[float], k: int) -> list[int]:
    """Indices of `k` members spread from the smallest to the largest (all when there are fewer)."""
    return sorted(spread_along(params, k))
