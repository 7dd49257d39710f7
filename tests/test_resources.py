"""What a job's stages ask of the Ray cluster (`resources` in the spec): validation, how many
tasks fit node by node, the error for an ask no node can hold, and the device a task picks
(the GPU path runs on CPU machines too: no GPU assigned means the CPU), and how many evaluator
actors start at a time."""

from __future__ import annotations

import os

import pytest

from nas.job.errors import SpecError
from nas.job.parse import parse_spec
from nas.job.schema import StageResources
from nas.search.resources import ResourcesUnavailable, ask_of, check_fits, how_many_fit, ray_options, tune_resources

BASE = {"name": "r", "space": "vit-resnas", "task": "digits"}
TWO_NODES = [
    {"CPU": 16.0, "memory": 1e10, "node:10.0.0.1": 1.0},
    {"CPU": 8.0, "GPU": 2.0, "gpu_node": 1.0, "node:10.0.0.2": 1.0, "object_store_memory": 1e9},
]


def test_defaults_ask_one_cpu_per_task_and_are_stored() -> None:
    spec = parse_spec(BASE)
    for stage in (spec.resources.supernet, spec.resources.evaluator, spec.resources.verify):
        assert (stage.cpus, stage.gpus, stage.custom) == (1.0, 0.0, {})
    assert spec.to_dict()["resources"]["evaluator"] == {"cpus": 1.0, "gpus": 0.0, "custom": {}}
    pinned = parse_spec({**BASE, "resources": {"supernet": {"gpus": 1, "custom": {"gpu_node": 1}}, "evaluator": {"cpus": 0.25}}})
    assert pinned.resources.supernet.gpus == 1.0 and pinned.resources.supernet.custom == {"gpu_node": 1.0} and pinned.resources.evaluator.cpus == 0.25


@pytest.mark.parametrize(
    ("resources", "problem"),
    [
        ({"evaluator": {"cpus": 0}}, "resources.evaluator.cpus: 0 must be > 0"),
        ({"supernet": {"gpus": -1}}, "resources.supernet.gpus: -1 must be >= 0"),
        ({"verify": {"custom": {"GPU": 1}}}, "resources.verify.custom: 'GPU' is not a custom resource name (CPUs and GPUs have their own fields: cpus, gpus)"),
        ({"verify": {"custom": {"gpu_node": 0}}}, "resources.verify.custom: gpu_node: 0.0 must be > 0"),
        ({"evaluator": {"gpu": 1}}, "resources.evaluator.gpu: unknown field"),
        ({"evaluators": {}}, "resources.evaluators: unknown field"),
        ({"evaluator": {"cpus": "2"}}, "resources.evaluator.cpus: expected a number"),
    ],
)
def test_a_bad_ask_names_its_field(resources: dict, problem: str) -> None:
    with pytest.raises(SpecError) as error:
        parse_spec({**BASE, "resources": resources})
    assert any(p.startswith(problem) for p in error.value.problems), error.value.problems


def test_asks_in_ray_and_tune_terms() -> None:
    stage = StageResources(cpus=2, gpus=0.5, custom={"gpu_node": 1})
    assert ask_of(stage) == {"CPU": 2.0, "GPU": 0.5, "gpu_node": 1.0}
    assert ray_options(stage) == {"num_cpus": 2.0, "num_gpus": 0.5, "resources": {"gpu_node": 1.0}}
    assert tune_resources(stage) == {"cpu": 2.0, "gpu": 0.5, "gpu_node": 1.0}
    assert ask_of(StageResources()) == {"CPU": 1.0} and ray_options(StageResources()) == {"num_cpus": 1.0, "num_gpus": 0.0}


def test_tasks_fit_node_by_node() -> None:
    assert how_many_fit(StageResources(), TWO_NODES) == 24
    assert how_many_fit(StageResources(cpus=0.25), TWO_NODES) == 96  # fractional evaluators share CPUs
    assert how_many_fit(StageResources(gpus=1), TWO_NODES) == 2  # only the GPU node, two GPUs
    assert how_many_fit(StageResources(cpus=4, gpus=0.5), TWO_NODES) == 2  # its 8 CPUs bind first
    assert how_many_fit(StageResources(custom={"gpu_node": 0.5}), TWO_NODES) == 2
    check_fits("resources.evaluator", StageResources(cpus=8, gpus=2), TWO_NODES)  # all of the second node


@pytest.mark.parametrize(
    ("stage", "asked"),
    [
        (StageResources(cpus=12, gpus=1), "CPU 12, GPU 1"),  # each half is somewhere; no node has both
        (StageResources(custom={"tpu_node": 1}), "CPU 1, tpu_node 1"),
        (StageResources(cpus=32), "CPU 32"),
    ],
)
def test_an_ask_no_single_node_holds_is_refused_with_the_clusters_nodes(stage: StageResources, asked: str) -> None:
    with pytest.raises(ResourcesUnavailable) as error:
        check_fits("resources.supernet", stage, TWO_NODES)
    assert str(error.value) == (
        f"resources.supernet: asks {asked} per task, and no node of the Ray cluster has that "
        "(node 1: CPU 16; node 2: CPU 8, GPU 2, gpu_node 1)"
    )


def test_a_ray_task_without_a_gpu_runs_on_the_cpu(ray_address: str) -> None:
    import ray

    from nas.search.resources import assigned_device

    assert ray.get(ray.remote(num_cpus=1, num_gpus=0)(assigned_device).remote()) == "cpu"
    assert assigned_device() == "cpu"  # the driver: no GPU was assigned to it


class SlowToStart:
    """An evaluator whose start takes a while; it notes when it began and ended starting."""

    def __init__(self, log_dir: str):
        import time
        from pathlib import Path

        began = time.time()
        time.sleep(0.5)
        Path(log_dir, f"{os.getpid()}.txt").write_text(f"{began} {time.time()}")

    def ready(self) -> int:
        return os.getpid()


def test_evaluator_actors_start_no_more_than_so_many_at_a_time(tmp_path, ray_address: str) -> None:
    from nas.search.dispatch import SLOTS_PER_ACTOR, EvaluatorPool

    pool = EvaluatorPool(SlowToStart, {"log_dir": str(tmp_path)}, 3, {"num_cpus": 0}, start_at_once=1)
    assert pool.slots == 3 * SLOTS_PER_ACTOR  # all three count from the start
    started = []
    try:
        while len(started) < 3:
            assert len(pool.starting) <= 1
            pool.wait(timeout=30)
            started += pool.take_started()
    finally:
        pool.shutdown()
    assert sorted(slot for slot, _ in started) == [0, 1, 2] and len(pool.idle) == 3 * SLOTS_PER_ACTOR
    spans = sorted(tuple(map(float, f.read_text().split())) for f in tmp_path.glob("*.txt"))
    assert len(spans) == 3 and all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans  # one after another
