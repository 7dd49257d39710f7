"""What each stage of a job asks of the Ray cluster, and the device a task runs on.

A job's spec says, per stage (`resources.supernet`, `.evaluator`, `.verify`), the CPUs, GPUs and
Ray custom resources one task or actor needs. Nothing in the service names a device: a task uses
a GPU when Ray gave it one, else the CPU. Before a stage starts, its ask is checked against the
cluster's nodes, so a job asking for what no node has fails at once, naming the field and the
cluster's totals, instead of waiting forever for Ray to place it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

class ResourcesUnavailable(ValueError):
    """A stage asks for more than any node of the cluster has."""


def ask_of(stage: Any) -> dict[str, float]:
    """A stage's ask in Ray's resource names: CPU, GPU and the custom ones."""
    ask = {"CPU": float(stage.cpus), **{name: float(amount) for name, amount in stage.custom.items()}}
    if stage.gpus:
        ask["GPU"] = float(stage.gpus)
    return ask


def describe_ask(stage: Any) -> str:
    """A stage's ask as messages show it: "CPU 1, GPU 1, gpu_node 1"."""
    return ", ".join(f"{name} {amount:g}" for name, amount in ask_of(stage).items())


def ray_options(stage: Any) -> dict[str, Any]:
    """`ray.remote(**ray_options(stage))` for a task or actor of the stage."""
    return {"num_cpus": stage.cpus, "num_gpus": stage.gpus, **({"resources": dict(stage.custom)} if stage.custom else {})}


def tune_resources(stage: Any) -> dict[str, float]:
    """`tune.with_resources(trainable, tune_resources(stage))` for a trial of the stage."""
    return {"cpu": stage.cpus, "gpu": stage.gpus, **stage.custom}


def node_resources() -> list[dict[str, float]]:
    """The resources of each alive node of the connected cluster."""
    import ray

    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def _describe(nodes: Sequence[Mapping[str, float]]) -> str:
    shown = []
    for i, node in enumerate(nodes):
        parts = [f"{name} {amount:g}" for name, amount in sorted(node.items()) if name in ("CPU", "GPU") or not (name.startswith("node:") or name in ("memory", "object_store_memory"))]
        shown.append(f"node {i + 1}: {', '.join(parts) or 'nothing'}")
    return "; ".join(shown) or "no alive node"


def check_fits(field: str, stage: Any, nodes: Sequence[Mapping[str, float]]) -> None:
    """ResourcesUnavailable unless one node has everything `stage` asks for at once."""
    ask = ask_of(stage)
    if any(all(node.get(name, 0.0) >= amount for name, amount in ask.items()) for node in nodes):
        return
    wanted = describe_ask(stage)
    raise ResourcesUnavailable(f"{field}: asks {wanted} per task, and no node of the Ray cluster has that ({_describe(nodes)})")


def check_fits_together(field: str, stage: Any, nodes: Sequence[Mapping[str, float]], count: int, count_field: str) -> None:
    """ResourcesUnavailable unless the cluster holds `count` tasks of `stage` at once (the
    workers of one Ray Train run, which start together)."""
    fit = how_many_fit(stage, nodes)
    if fit >= count:
        return
    wanted = describe_ask(stage)
    raise ResourcesUnavailable(f"{count_field}: {count} workers of {field} ({wanted} each) must run at once, and the Ray cluster holds {fit} ({_describe(nodes)})")


def how_many_fit(stage: Any, nodes: Sequence[Mapping[str, float]]) -> int:
    """How many tasks of `stage` the cluster can run at once, node by node."""
    ask = ask_of(stage)
    return sum(min(math.floor(node.get(name, 0.0) / amount + 1e-9) for name, amount in ask.items()) for node in nodes)


def assigned_device() -> str:
    """The device of the Ray task or actor this runs in: a GPU when Ray assigned one (Ray sets
    CUDA_VISIBLE_DEVICES to it, so it is cuda:0 here), else the CPU."""
    import ray
    import torch

    gpus = ray.get_gpu_ids() if ray.is_initialized() else []
    if gpus and torch.cuda.is_available():
        return "cuda"
    if gpus:
        logger.warning("Ray assigned GPU %s, but torch sees no CUDA device (a CPU build of torch?); running on the CPU", gpus)
    return "cpu"


def where_am_i() -> dict[str, str]:
    """This process's Ray node, host and device: a job's events say where each stage ran."""
    import socket

    import ray

    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "no Ray node (in-process)"
    return {"node_id": node, "host": socket.gethostname(), "device": assigned_device()}
