"""Data-parallel supernet training with Ray Train (`supernet.workers`): two CPU workers on real
Ray, gloo all-reduce. Each worker trains its share of every step's subnets; the result matches one
process's training, a run stopped part-way resumes to exactly the weights of an unbroken run, and
a job through the coordinator trains its supernet this way."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import ray
import torch
from safetensors.torch import load_file

from nas.artifact_root import JobFiles, node_cache
from nas.job.errors import SpecError
from nas.job.parse import parse_spec
from nas.search.coordinator import Coordinator
from nas.search.resources import ResourcesUnavailable, check_fits_together
from nas.search.supernet_task import train_supernet
from nas.service import submit_job
from nas.store import ArtifactKind, EventKind, Store
from nas.training.checkpoint import META_FILE
from tests.helpers import digits_spec

SUPERNET = {"epochs": 2, "max_train": 512, "check": False}  # 4 steps of 128 per epoch, 4 subnets per step
# Half a CPU per worker: both fit on a test worker's share of the machine (one CPU where two pytest workers share two).
HALF_A_CPU = {"supernet": {"cpus": 0.5}}


def spec_with(workers: int) -> Any:
    return parse_spec({"name": "ddp", "space": "vit-resnas", "task": "digits", "supernet": {**SUPERNET, "workers": workers}, "resources": HALF_A_CPU})


def run_as_a_ray_task(spec: Any, location: Path, stop_after: int | None = None) -> tuple:
    """As the coordinator runs it: a task of no CPUs driving the Ray Train workers."""
    return ray.get(ray.remote(num_cpus=0, max_retries=0)(train_supernet).remote(spec, str(location), JobFiles(), stop_after))


def weights(location: Path) -> dict[str, torch.Tensor]:
    return load_file(location / "supernet.safetensors")


def meta(location: Path) -> dict:
    return json.loads((location / META_FILE).read_text())


@pytest.mark.system  # two Ray Train worker processes training, killed and resumed: 2 min of the default tier
def test_two_workers_train_what_one_process_trains_and_resume_exactly(tmp_path: Path, ray_address: str) -> None:
    one = train_supernet(spec_with(1), str(tmp_path / "one"), JobFiles())
    started_at, health, where = run_as_a_ray_task(spec_with(2), tmp_path / "two")
    assert started_at == 0 and set(health) == set(one[1])
    assert len(where["workers"]) == 2 and all(w["device"] == "cpu" for w in where["workers"])
    # The same gradients, summed in another order: the same loss and weights up to rounding.
    loss_one, loss_two = meta(tmp_path / "one")["progress"]["loss"], meta(tmp_path / "two")["progress"]["loss"]
    assert loss_two == pytest.approx(loss_one, rel=1e-4)
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    assert meta(tmp_path / "two")["position"] == meta(tmp_path / "one")["position"]
    run_state = node_cache() / "ray-train" / f"supernet-{hashlib.sha256(str(tmp_path / 'two').encode()).hexdigest()[:16]}"
    assert not run_state.exists()  # Ray Train's run state is not left behind
    curve_one, curve_two = (meta(tmp_path / n)["progress"]["epoch_losses"] for n in ("one", "two"))
    assert [e["epoch"] for e in curve_two] == [1, 2] and [e["loss"] for e in curve_two] == pytest.approx([e["loss"] for e in curve_one], rel=1e-4)

    # Stopped after its first epoch (a crash's stand-in), then resumed from that checkpoint.
    steps_per_epoch = meta(tmp_path / "one")["progress"]["total_steps"] // SUPERNET["epochs"]
    run_as_a_ray_task(spec_with(2), tmp_path / "resumed", stop_after=steps_per_epoch)
    assert meta(tmp_path / "resumed")["position"]["global_step"] == steps_per_epoch
    resumed_from, _, _ = run_as_a_ray_task(spec_with(2), tmp_path / "resumed")
    assert resumed_from == steps_per_epoch
    c = weights(tmp_path / "resumed")
    assert all(torch.equal(b[k], c[k]) for k in b), "the resumed run's weights differ from the unbroken run's"
    assert meta(tmp_path / "resumed")["progress"]["epoch_losses"] == curve_two
    assert load_file(tmp_path / "resumed" / "optimizer.safetensors").keys() == load_file(tmp_path / "two" / "optimizer.safetensors").keys()


def test_a_job_trains_its_supernet_on_two_workers(tmp_path: Path, ray_address: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'nas.db'}")
    job = submit_job(store, digits_spec(budget={"candidates": 2}, supernet={**SUPERNET, "epochs": 1, "workers": 2, "batch_size": 64}, resources=HALF_A_CPU))
    finished = Coordinator(store, jobs_dir=tmp_path / "jobs").run_next(job.id)
    assert finished.status == "succeeded", finished.error
    (trained,) = [e for e in store.events(job.id) if e.kind == EventKind.SUPERNET_TRAINED]
    assert len(trained.data["where"]["workers"]) == 2
    (checkpoint,) = store.artifacts(job.id, ArtifactKind.SUPERNET_CHECKPOINT)
    assert meta(Path(checkpoint.path))["position"]["phase"] == "done"
    assert store.counts(job.id)["done"] == 2


def test_more_workers_than_the_cluster_holds_at_once_is_refused() -> None:
    stage = parse_spec({"name": "x", "space": "vit-resnas", "task": "digits", "resources": {"supernet": {"cpus": 2}}}).resources.supernet
    nodes = [{"CPU": 4.0}, {"CPU": 3.0}]
    check_fits_together("resources.supernet", stage, nodes, 3, "supernet.workers")
    with pytest.raises(ResourcesUnavailable, match=r"^supernet.workers: 4 workers of resources.supernet \(CPU 2 each\) must run at once, and the Ray cluster holds 3 \(node 1: CPU 4; node 2: CPU 3\)$"):
        check_fits_together("resources.supernet", stage, nodes, 4, "supernet.workers")


@pytest.mark.parametrize(
    ("supernet", "message"),
    [
        ({"workers": 4, "archs_per_step": 2}, "supernet.archs_per_step: 2 is below supernet.workers=4 (each worker trains its own subnets of every step)"),
        ({"workers": 65}, "supernet.workers"),
        ({"workers": 0}, "supernet.workers"),
        ({"workers": 16, "batch_size": 8}, "supernet.workers: 16 exceeds supernet.batch_size=8"),
    ],
)
def test_bad_worker_counts_are_refused_naming_the_field(supernet: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec({"name": "x", "space": "flexibert", "task": "rotten-tomatoes", "supernet": supernet})


def test_every_worker_gets_a_subnet_by_default() -> None:
    """A text supernet trains one subnet per step by default; with 3 workers it trains 3."""
    spec = parse_spec({"name": "x", "space": "flexibert", "task": "rotten-tomatoes", "supernet": {"workers": 3}})
    assert spec.supernet.resolved("text").archs_per_step == 3
    assert parse_spec({"name": "x", "space": "flexibert", "task": "rotten-tomatoes"}).supernet.resolved("text").archs_per_step == 1
