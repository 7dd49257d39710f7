"""Job specs: parsing, defaults, canonical form, and an error naming the field for every mistake."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nas.job.checks import _task_shape, cheapest_cost
from nas.job.errors import SpecError
from nas.job.parse import load_spec, parse_spec
from nas.job.schema import JobSpec
from nas.service import submit_job
from nas.store import Store
from nas.tasks.catalog import BUILTIN_TASKS, TEXT_MAX_LEN, TEXT_VOCAB_SIZE
from search_spaces import ImageTaskShape, TextTaskShape, get_space
from surrogates.base import Objective
from tests.helpers import ALL_PRESETS, REPO

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
BASE: dict[str, Any] = {"name": "t", "space": "vit-resnas", "task": "digits"}


def spec_with(**changes: Any) -> dict[str, Any]:
    """BASE with top-level fields replaced; a value of None removes the field."""
    data = {**BASE, **changes}
    return {k: v for k, v in data.items() if v is not None}


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return info.value.problems


# ---- valid specs ----


def test_the_documented_examples_exist() -> None:
    assert {"digits-vit.yaml", "rotten-tomatoes-flexibert.yaml", "nas-bench-bert.yaml"} <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_parse_and_round_trip(path: Path) -> None:
    spec = load_spec(path)
    stored = json.loads(json.dumps(spec.to_dict()))  # what the store keeps is plain JSON
    assert parse_spec(stored) == spec
    assert parse_spec(stored).to_dict() == stored


def test_defaults_are_filled() -> None:
    spec = parse_spec(BASE)
    assert spec.preset == "small-images"
    assert spec.to_dict() == {
        "name": "t",
        "space": "vit-resnas",
        "preset": "small-images",
        "task": "digits",
        "objectives": [{"metric": "accuracy", "goal": "maximize"}],
        "constraints": {},
        "strategy": "boshnas",
        "budget": {"candidates": 100},
        "supernet": {"epochs": 25, "archs_per_step": 4, "batch_size": 128, "mlm_epochs": 0, "lr": 0.002, "sandwich": True, "warmup_epochs": 2, "distill": False, "score_finetune_steps": 20, "check": True, "workers": 1},
        "verify": {"top_k": 3, "references": 3, "seeds": 1, "epochs": 14, "init": "inherited", "lr": 0.001, "batch_size": 64, "early_stop": True},  # 23 steps an epoch
        "latency": {"runtime": "onnxruntime", "batch_size": 1, "threads": 1, "precision": 0.03, "max_seconds": 10.0},
        "workers": 1,
        "seed": 0,
        "resources": {stage: {"cpus": 1.0, "gpus": 0.0, "custom": {}} for stage in ("supernet", "evaluator", "verify")},
    }


def test_default_epochs_give_every_task_enough_steps(tmp_path: Path) -> None:
    """A supernet needs steps, not epochs: the default is enough epochs for MIN_SUPERNET_STEPS
    optimizer steps on the training split (max_train and batch_size counted), at least MIN_EPOCHS;
    what a spec sets is kept."""
    from nas.job.schema import MIN_EPOCHS, MIN_SUPERNET_STEPS

    def epochs(**changes: object) -> int:
        return parse_spec(spec_with(**changes), base_dir=tmp_path).supernet.epochs

    assert epochs() == 25  # digits: 1,439 examples, 12 steps of 128
    assert epochs(supernet={"batch_size": 64}) == 14  # 23 steps an epoch
    assert epochs(supernet={"max_train": 256}) == MIN_SUPERNET_STEPS // 2  # 2 steps an epoch
    assert epochs(supernet={"epochs": 40}) == 40
    assert epochs(space="flexibert", task="rotten-tomatoes") == MIN_EPOCHS  # 81 steps an epoch
    assert epochs(supernet={"warmup_epochs": 30}) == 30  # the curriculum runs inside the epochs
    rows = tmp_path / "reviews.csv"
    rows.write_text("text,label\n" + "".join(f"review {i},{'good' if i % 2 else 'bad'}\n" for i in range(1000)))
    assert epochs(space="flexibert", task={"csv": str(rows)}) == 43  # 800 training rows: 7 steps an epoch
    assert epochs(space="flexibert", task={"generate": "recall", "examples": 2000}) == 24  # 1,600 training examples: 13 steps an epoch


def test_subnets_per_step_default_by_task_kind() -> None:
    """Text supernets train one subnet on the whole batch (so no sandwich); image supernets split
    the batch among four with the sandwich rule; what a spec sets is kept."""
    text = spec_with(space="flexibert", task="rotten-tomatoes")
    assert parse_spec(text).supernet.model_dump(include={"archs_per_step", "sandwich", "score_finetune_steps"}) == {"archs_per_step": 1, "sandwich": False, "score_finetune_steps": 0}
    assert parse_spec(spec_with()).supernet.model_dump(include={"archs_per_step", "sandwich"}) == {"archs_per_step": 4, "sandwich": True}
    chosen = parse_spec({**text, "supernet": {"archs_per_step": 3}}).supernet
    assert (chosen.archs_per_step, chosen.sandwich) == (3, True)
    chosen = parse_spec({**text, "supernet": {"archs_per_step": 3, "sandwich": False}}).supernet
    assert (chosen.archs_per_step, chosen.sandwich) == (3, False)


def test_goals_default_by_metric_and_convert_to_objectives() -> None:
    spec = parse_spec(spec_with(objectives=[{"metric": "accuracy"}, {"metric": "params"}, {"metric": "latency_ms", "goal": "maximize"}]))
    assert spec.surrogate_objectives() == [Objective("accuracy", True), Objective("params", False), Objective("latency_ms", True)]
    assert spec.pareto_objectives() == [("accuracy", True), ("params", False), ("latency_ms", True)]


def test_benchmark_mode_defaults_its_preset_and_has_no_supernet() -> None:
    spec = parse_spec({"name": "b", "space": "flexibert", "task": "nas-bench-bert"})
    assert (spec.preset, spec.supernet, spec.is_benchmark) == ("nas-bench-bert", None, True)
    assert "supernet" not in spec.to_dict()
    assert parse_spec({"name": "f", "space": "flexibert", "task": "rotten-tomatoes"}).preset == "flexibert"  # the space's default


def test_yaml_and_json_are_told_by_content(tmp_path: Path) -> None:
    as_json = tmp_path / "spec.yaml"
    as_json.write_text(json.dumps(BASE))
    as_yaml = tmp_path / "spec.json"
    as_yaml.write_text("name: t\nspace: vit-resnas\ntask: digits\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text("{name: t, space: vit-resnas, task: digits}")  # starts like JSON, is YAML
    assert load_spec(as_json) == load_spec(as_yaml) == load_spec(flow) == parse_spec(BASE)


def test_a_number_in_exponent_notation_is_a_number_in_yaml(tmp_path: Path) -> None:
    """YAML 1.1 would read `lr: 2e-3` as the string '2e-3' and refuse it; people mean 0.002."""
    path = tmp_path / "spec.yaml"
    path.write_text("name: t\nspace: vit-resnas\ntask: digits\nsupernet: {lr: 2e-3, epochs: 30}\nverify: {lr: 1E-3}\n")
    spec = load_spec(path)
    assert spec.supernet.lr == 0.002 and spec.verify.lr == 0.001
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text("name: t\nspace: vit-resnas\ntask: digits\nsupernet: {lr: '2e-3'}\n")
    with pytest.raises(SpecError, match="supernet.lr"):  # a quoted string stays a string
        load_spec(quoted)


def test_user_files_resolve_from_the_spec_directory(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "reviews.csv").write_text("text,label\ngood,1\nbad,0\n")
    path = tmp_path / "spec.yaml"
    path.write_text("name: r\nspace: flexibert\ntask: {csv: data/reviews.csv, text_column: text}\nsupernet: {mlm_epochs: 1}\n")
    spec = load_spec(path)
    assert spec.to_dict()["task"] == {"csv": str(tmp_path / "data" / "reviews.csv"), "text_column": "text", "label_column": "label"}
    assert spec.task.to_load_spec() == spec.to_dict()["task"]
    assert parse_spec(spec.to_dict()) == spec  # absolute now: parses the same from anywhere


# ---- invalid specs: every problem names its field ----

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown metric", spec_with(objectives=[{"metric": "accuracy"}, {"metric": "speed"}]), "objectives[1].metric: 'speed' not in {accuracy, params, flops, latency_ms}"),
    ("unknown goal", spec_with(objectives=[{"metric": "accuracy", "goal": "up"}]), "objectives[0].goal: 'up' not in {maximize, minimize}"),
    ("repeated metric", spec_with(objectives=[{"metric": "params"}, {"metric": "accuracy"}, {"metric": "params"}]), "objectives[2].metric: 'params' repeats objectives[0]"),
    ("no objectives", spec_with(objectives=[]), "objectives: must not be empty"),
    ("negative budget", spec_with(budget={"candidates": -3}), "budget.candidates: -3 must be >= 1"),
    ("zero minutes", spec_with(budget={"candidates": 5, "max_minutes": 0}), "budget.max_minutes: 0 must be > 0"),
    ("unknown preset", spec_with(preset="huge"), "preset: 'huge' not in {tiny, small-images} for space vit-resnas"),
    ("unknown space", spec_with(space="resnet"), "space: 'resnet' not in {flexibert, vit-resnas}"),
    ("unknown field", spec_with(frobnicate=1), "frobnicate: unknown field"),
    ("unknown nested field", spec_with(budget={"candidates": 5, "epochs": 2}), "budget.epochs: unknown field; allowed: {candidates, max_minutes, cpu_minutes}"),
    ("missing name", spec_with(name=None), "name: missing required field"),
    ("unknown strategy", spec_with(strategy="grid"), "strategy: 'grid' not in {boshnas, botorch, evolution, random, tpe, nsga2}"),
    ("boolean workers", spec_with(workers=True), "workers: expected an integer, got bool True"),
    ("zero workers", spec_with(workers=0), "workers: 0 must be >= 1"),
    ("negative seed", spec_with(seed=-1), "seed: -1 must be >= 0"),
    ("string epochs", spec_with(supernet={"epochs": "5"}), "supernet.epochs: expected an integer, got str '5'"),
    ("zero epochs", spec_with(supernet={"epochs": 0}), "supernet.epochs: 0 must be >= 1"),
    ("zero max_train", spec_with(supernet={"max_train": 0}), "supernet.max_train: 0 must be >= 1"),
    ("archs over batch", spec_with(supernet={"archs_per_step": 64, "batch_size": 32}), "supernet.archs_per_step: 64 exceeds supernet.batch_size=32"),
    ("mlm on images", spec_with(supernet={"mlm_epochs": 1}), "supernet.mlm_epochs: masked-LM pretraining needs a text task; 'digits' is an image task"),
    ("sandwich of one subnet", spec_with(supernet={"archs_per_step": 1, "sandwich": True}), "supernet.sandwich: needs supernet.archs_per_step >= 2"),
    ("curriculum past the epochs", spec_with(supernet={"epochs": 3, "warmup_epochs": 4}), "supernet.warmup_epochs: 4 exceeds supernet.epochs=3"),
    ("zero params_max", spec_with(constraints={"params_max": 0}), "constraints.params_max: 0 must be > 0"),
    ("impossible params", spec_with(constraints={"params_max": 1000}), "constraints.params_max: 1,000 is below the smallest architecture of vit-resnas/small-images on this task"),
    ("impossible flops", spec_with(constraints={"flops_max": 1000}), "constraints.flops_max: 1,000 is below the smallest architecture"),
    ("unknown task", spec_with(task="mnist"), "task: 'mnist' not in {digits, fashion-mnist, rotten-tomatoes, nas-bench-bert}"),
    ("task of wrong type", spec_with(task=5), "task: expected a task name or a file"),
    ("missing file", spec_with(task={"npz": "/nonexistent/images.npz"}), "task.npz: file not found: /nonexistent/images.npz"),
    ("missing csv", spec_with(space="flexibert", task={"csv": "/nonexistent/r.csv"}), "task.csv: file not found: /nonexistent/r.csv"),
    ("two files", spec_with(task={"csv": "a.csv", "npz": "b.npz"}), "task: give a task name, a dataset id, or exactly one of {csv, jsonl, npz}"),
    ("columns of images", spec_with(task={"npz": __file__, "label_column": "y"}), "task.label_column: only csv and jsonl tasks have columns"),
    ("image space, text task", spec_with(task="rotten-tomatoes"), "task: 'rotten-tomatoes' is a text task; space vit-resnas takes image tasks"),
    ("text space, image task", spec_with(space="flexibert"), "task: 'digits' is an image task; space flexibert takes text tasks"),
    ("benchmark on vit", spec_with(task="nas-bench-bert"), "space: benchmark mode (task nas-bench-bert) needs space flexibert, got 'vit-resnas'"),
    ("benchmark preset", spec_with(space="flexibert", preset="flexibert", task="nas-bench-bert"), "preset: benchmark mode (task nas-bench-bert) needs preset nas-bench-bert"),
    (
        "benchmark latency objective",
        spec_with(space="flexibert", task="nas-bench-bert", objectives=[{"metric": "accuracy"}, {"metric": "latency_ms"}]),
        "objectives[1].metric: 'latency_ms' is not available in benchmark mode",
    ),
    ("benchmark latency limit", spec_with(space="flexibert", task="nas-bench-bert", constraints={"latency_ms_max": 5}), "constraints.latency_ms_max: latency is not available in benchmark mode"),
    ("benchmark supernet", spec_with(space="flexibert", task="nas-bench-bert", supernet={"epochs": 1}), "supernet: does not apply in benchmark mode"),
    ("benchmark latency", spec_with(space="flexibert", task="nas-bench-bert", latency={"runtime": "torch"}), "latency: does not apply in benchmark mode"),
    ("unknown runtime", spec_with(latency={"runtime": "tensorrt"}), "latency.runtime: 'tensorrt' not in {onnxruntime, torchscript, torch}"),
    ("zero latency batch", spec_with(latency={"batch_size": 0}), "latency.batch_size: 0 must be >= 1"),
    ("precision of a whole", spec_with(latency={"precision": 1}), "latency.precision: 1 must be > 0 and < 1"),
    (
        "threads beyond the evaluator's CPUs",
        spec_with(latency={"threads": 4}, resources={"evaluator": {"cpus": 2}}),
        "latency.threads: 4 exceeds resources.evaluator.cpus=2 (the measurement would share CPUs with other evaluators); give each evaluator 4 CPUs",
    ),
    (
        "a latency objective on a fraction of a CPU",
        spec_with(objectives=[{"metric": "accuracy"}, {"metric": "latency_ms"}], resources={"evaluator": {"cpus": 0.5}}),
        # Nothing about fewer threads: a measurement takes at least one.
        "latency.threads: 1 exceeds resources.evaluator.cpus=0.5 (the measurement would share CPUs with other evaluators); give each evaluator 1 CPU (resources.evaluator.cpus: 1)",
    ),
    ("no CPU minutes", spec_with(budget={"candidates": 5, "cpu_minutes": -1}), "budget.cpu_minutes: -1 must be > 0"),
    ("unknown generator", spec_with(space="flexibert", task={"generate": "sort"}), "task.generate: 'sort' not in {listops, recall}"),
    ("short listops", spec_with(space="flexibert", task={"generate": "listops", "max_length": 5}), "task.max_length: 5 must be >= 8 and <= 4,096"),
    ("listops lengths", spec_with(space="flexibert", task={"generate": "listops", "min_length": 64, "max_length": 48}), "task.min_length: 64 must be <= max_length (48)"),
    ("another generator's setting", spec_with(space="flexibert", task={"generate": "recall", "max_depth": 3}), "task.max_depth: recall has no max_depth; its settings are pairs, queries, keys"),
    ("generator setting of a file", spec_with(space="flexibert", task={"name": "rotten-tomatoes", "pairs": 3}), "task.pairs: only generated tasks (generate: {listops, recall}) have it"),
    ("recall queries", spec_with(space="flexibert", task={"generate": "recall", "pairs": 4, "queries": 6}), "task.queries: 6 must be <= pairs (4)"),
    ("few examples", spec_with(space="flexibert", task={"generate": "recall", "examples": 10}), "task.examples: 10 must be >= 100 and <= 1,000,000"),
    ("cut generated texts", spec_with(space="flexibert", task={"generate": "recall", "max_len": 16}), "task.max_len: 16 would cut texts of recall (pairs 16, queries 1, keys 32), which take up to 20 tokens"),
    ("split generated words", spec_with(space="flexibert", task={"generate": "recall", "keys": 500, "vocab_size": 800}), "task.vocab_size: 800 may split words of recall"),
    ("generator and name", spec_with(space="flexibert", task={"generate": "recall", "name": "rotten-tomatoes"}), "task: give a task name, a dataset id, or exactly one of {csv, jsonl, npz} with a path, or generate: {listops, recall}; got {name, generate}"),
    ("max_len of images", spec_with(task={"name": "digits", "max_len": 128}), "task.max_len: only text tasks have a tokenizer; 'digits' is an image task"),
    ("vocab of npz", spec_with(task={"npz": __file__, "vocab_size": 500}), "task.vocab_size: only text tasks have a tokenizer; 'test_spec.py' is an image task"),
    ("max_len of the benchmark", spec_with(space="flexibert", task={"name": "nas-bench-bert", "max_len": 128}), "task.max_len: only text tasks have a tokenizer; the benchmark replays a table"),
    ("long max_len", spec_with(space="flexibert", task={"name": "rotten-tomatoes", "max_len": 10_000}), "task.max_len: 10000 must be >= 8 and <= 4,096"),
    ("small vocabulary", spec_with(space="flexibert", task={"csv": __file__, "vocab_size": 10}), "task.vocab_size: 10 must be >= 100 and <= 100,000"),
]


@pytest.mark.parametrize(("data", "expected"), [(d, e) for _, d, e in INVALID], ids=[name for name, _, _ in INVALID])
def test_invalid_spec_names_the_field(data: dict[str, Any], expected: str) -> None:
    problems = problems_of(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_fraction_of_a_cpu_is_not_told_to_measure_with_fewer_threads() -> None:
    problems = problems_of(spec_with(objectives=[{"metric": "accuracy"}, {"metric": "latency_ms"}], resources={"evaluator": {"cpus": 0.5}}))
    (latency,) = [p for p in problems if p.startswith("latency.threads")]
    assert latency.endswith("give each evaluator 1 CPU (resources.evaluator.cpus: 1)")


def test_every_problem_is_listed_at_once() -> None:
    data = spec_with(
        preset="huge",
        objectives=[{"metric": "accuracy"}, {"metric": "speed"}],
        budget={"candidates": -3},
        frobnicate=True,
        workers=0,
        task={"npz": "/nonexistent/x.npz"},
    )
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    paths = [p.split(":")[0] for p in info.value.problems]
    assert sorted(paths) == sorted(["objectives[1].metric", "budget.candidates", "frobnicate", "workers", "preset", "task.npz"])
    assert str(info.value) == "\n".join(info.value.problems)


def test_a_supernet_of_too_few_steps_to_learn_is_refused_at_submission(tmp_path: Path) -> None:
    """Epochs of fewer optimizer steps than a supernet needs to learn (MIN_SUPERNET_STEPS) would
    fail the health check minutes into the job: refused at once, with the epochs and the
    batch_size that would do, unless the check is off."""
    assert problems_of(spec_with(supernet={"epochs": 10})) == [
        (
            "supernet.epochs: 10 epochs make 120 optimizer steps (12 an epoch: 1,439 training examples in batches of 128), and a supernet "
            "needs 300 to learn: the health check after training would fail the job; ask for at least 25 epochs at this batch_size, or a "
            "supernet.batch_size of at most 49 at 10 epochs; or set supernet.check: false to train it anyway, without the check"
        )
    ]
    # Both levers named are enough; one step fewer is not.
    assert parse_spec(spec_with(supernet={"epochs": 25})).supernet.epochs == 25
    assert parse_spec(spec_with(supernet={"epochs": 10, "batch_size": 49})).supernet.epochs == 10
    assert "supernet.epochs: 10 epochs make 290 optimizer steps" in problems_of(spec_with(supernet={"epochs": 10, "batch_size": 50}))[0]
    assert parse_spec(spec_with(supernet={"epochs": 1, "check": False})).supernet.epochs == 1  # the user turned the check off
    # max_train counts; where even batches of one example are too few, only more epochs will do.
    (few,) = problems_of(spec_with(supernet={"epochs": 2, "max_train": 100}))
    assert few.startswith("supernet.epochs: 2 epochs make 2 optimizer steps (1 an epoch: supernet.max_train's 100 examples in batches of 128)")
    assert "at least 300 epochs at this batch_size; or set supernet.check: false" in few
    # A user's file, counted when it is read: 800 training rows, 7 steps of 128 an epoch.
    rows = tmp_path / "reviews.csv"
    rows.write_text("text,label\n" + "".join(f"review {i},{'good' if i % 2 else 'bad'}\n" for i in range(1000)))
    (text,) = problems_of(spec_with(space="flexibert", task={"csv": str(rows)}, supernet={"epochs": 5}))
    assert text.startswith("supernet.epochs: 5 epochs make 35 optimizer steps (7 an epoch: 800 training examples")


def test_every_number_of_the_spec_has_an_upper_bound() -> None:
    """A number beyond any real run (1e9 epochs, a batch no memory holds) is refused at submission:
    each int and float field of every model of the spec carries a `le` or `lt` bound."""
    import typing

    from pydantic import BaseModel

    def models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
        yield model
        for field in model.model_fields.values():
            for arg in (field.annotation, *typing.get_args(field.annotation)):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    yield from models(arg)

    def is_number(annotation: Any) -> bool:  # int, float, or either or None
        return (set(typing.get_args(annotation)) - {type(None)} or {annotation}) <= {int, float}

    # (custom resources, a dict of numbers, are bounded by their validator: see the test below)
    numbers = {f"{model.__name__}.{name}": field for model in set(models(JobSpec)) for name, field in model.model_fields.items() if is_number(field.annotation)}
    assert len(numbers) >= 20 and "SupernetSpec.epochs" in numbers
    unbounded = [name for name, field in numbers.items() if not any(hasattr(m, "le") or hasattr(m, "lt") for m in field.metadata)]
    assert unbounded == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"supernet": {"epochs": 1_000_000_000}}, "supernet.epochs: 1000000000 must be >= 1 and <= 10,000"),
        ({"supernet": {"batch_size": 1_000_000_000}}, "supernet.batch_size: 1000000000 must be >= 1 and <= 65,536"),
        ({"supernet": {"lr": 100.0}}, "supernet.lr: 100.0 must be > 0 and <= 10"),
        ({"verify": {"top_k": 1000}}, "verify.top_k: 1000 must be >= 0 and <= 100"),
        ({"budget": {"max_minutes": 1e12}}, "budget.max_minutes: 1000000000000.0 must be > 0 and <= 527,040"),
        ({"constraints": {"flops_max": 1e30}}, "constraints.flops_max: 1e+30 must be > 0 and <= 1e+18"),
        ({"resources": {"verify": {"custom": {"gpu_node": 1e9}}}}, "resources.verify.custom: gpu_node: 1000000000.0 must be > 0 and <= 1,000,000"),
        ({"supernet": {"epochs": 0}}, "supernet.epochs: 0 must be >= 1 and <= 10,000"),  # the range, from either side
    ],
)
def test_a_number_out_of_range_is_refused_with_the_range(changes: dict[str, Any], problem: str) -> None:
    assert problem in problems_of(spec_with(**changes))


def test_cross_field_checks_run_beside_structural_errors() -> None:
    problems = problems_of(spec_with(seed=-1, space="flexibert", constraints={"params_max": 10}))
    assert any(p.startswith("seed:") for p in problems) and any(p.startswith("task: 'digits' is an image task") for p in problems)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "file not found"), ("", "empty file"), ("name: [unclosed", "not valid YAML"), ('{"name": ', "not valid JSON"), ("- a\n- b\n", "expected a mapping")],
)
def test_unreadable_spec_files_name_the_file(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "spec.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problems[0].startswith(str(path)) and expected in info.value.problems[0]


def test_an_invalid_spec_writes_nothing(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'nas.db'}") as store:
        with pytest.raises(SpecError):
            submit_job(store, spec_with(budget={"candidates": -3}))
        path = tmp_path / "bad.yaml"
        path.write_text("name: x\nspace: vit-resnas\ntask: digits\nstrategy: grid\n")
        with pytest.raises(SpecError):
            submit_job(store, path)
        assert store.list_jobs() == []
        job = submit_job(store, EXAMPLES[0])
        assert store.list_jobs() == [job] and job.spec == load_spec(EXAMPLES[0]).to_dict() and job.name == job.spec["name"]


# ---- the cheapest architecture, and the task shapes used to cost it ----


@pytest.mark.parametrize(("space_name", "preset"), ALL_PRESETS, ids=[f"{s}:{p}" for s, p in ALL_PRESETS])
def test_cheapest_cost_is_a_lower_bound(space_name: str, preset: str) -> None:
    space = get_space(space_name, preset)
    shape = TextTaskShape(vocab_size=TEXT_VOCAB_SIZE, max_len=TEXT_MAX_LEN, num_classes=2) if space_name == "flexibert" else space.default_task()
    cheapest = cheapest_cost(space_name, preset, shape)
    rng = random.Random(1)
    samples = [space.cost(space.sample(rng), shape) for _ in range(200)]
    smallest = [space.cost(space.extreme(rng, largest=False), shape) for _ in range(20)]
    assert all(c.params >= cheapest.params and c.flops >= cheapest.flops for c in samples + smallest)


def test_builtin_task_shapes_match_the_data(tmp_path: Path) -> None:
    from nas.tasks.data import load_task

    # The catalog's shapes (what specs are costed with) are those of the loaded data.
    for name in ("digits", "rotten-tomatoes"):
        assert load_task(name, workdir=tmp_path).shape == BUILTIN_TASKS[name]
    assert isinstance(BUILTIN_TASKS["fashion-mnist"], ImageTaskShape) and isinstance(BUILTIN_TASKS["rotten-tomatoes"], TextTaskShape)
    assert dataclasses.asdict(BUILTIN_TASKS["fashion-mnist"]) == {"channels": 1, "image_size": 28, "num_classes": 10}


def test_job_spec_is_frozen() -> None:
    spec = parse_spec(BASE)
    with pytest.raises(Exception):
        spec.seed = 3  # type: ignore[misc]
    assert isinstance(spec, JobSpec)


def test_warmup_default_fits_the_epochs() -> None:
    # The curriculum's default (2 epochs) shrinks to the supervised epochs instead of being clamped
    # later. (Without the health check: these epochs are too few steps for digits to learn.)
    def warmup(**supernet: Any) -> int | None:
        return parse_spec(spec_with(supernet={**supernet, "check": False})).supernet.warmup_epochs

    assert warmup(epochs=1) == 1 and warmup(epochs=8) == 2 and warmup(epochs=8, warmup_epochs=0) == 0


def test_a_stored_spec_reads_back_typed_without_rechecking(tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngood,1\nbad,0\n")
    spec = parse_spec({"name": "r", "space": "flexibert", "task": {"csv": str(data)}, "constraints": {"params_max": 9e6}})
    stored = json.loads(json.dumps(spec.to_dict()))  # as the store keeps it
    data.unlink()  # checked at submission only: the coordinator and the service read it back as is
    again = JobSpec.from_stored(stored)
    assert again == spec and again.task.csv == str(data) and again.supernet.archs_per_step == 1
    with pytest.raises(Exception):
        JobSpec.from_stored({**stored, "workers": "2"})  # but its structure is still checked


def test_text_settings_and_generated_tasks_are_stored_as_given_or_filled(tmp_path: Path) -> None:
    """Old specs store what they always stored; a text task's settings are kept; a generated task
    is stored with every setting filled, so it generates the same data whatever later defaults."""
    text = {"name": "r", "space": "flexibert"}
    assert parse_spec({**text, "task": "rotten-tomatoes"}).to_dict()["task"] == "rotten-tomatoes"
    assert parse_spec({**text, "task": {"name": "rotten-tomatoes"}}).to_dict()["task"] == "rotten-tomatoes"
    assert parse_spec({**text, "task": {"name": "rotten-tomatoes", "max_len": 128}}).to_dict()["task"] == {"name": "rotten-tomatoes", "max_len": 128}
    rows = tmp_path / "reviews.csv"
    rows.write_text("text,label\ngood,1\nbad,0\n")
    assert parse_spec({**text, "task": {"csv": str(rows), "max_len": 256}}).to_dict()["task"] == {"csv": str(rows), "text_column": "text", "label_column": "label", "max_len": 256}
    spec = parse_spec({**text, "task": {"generate": "listops", "max_length": 64}, "seed": 3})
    assert spec.to_dict()["task"] == {
        "generate": "listops", "examples": 10_000, "min_length": 32, "max_length": 64, "max_depth": 6, "max_args": 5, "vocab_size": TEXT_VOCAB_SIZE, "max_len": 64 + 21 + 2,
    }  # fmt: skip
    assert spec.supernet.epochs == 5  # 8,000 training examples: 63 steps of 128 an epoch
    stored = json.loads(json.dumps(spec.to_dict()))
    assert JobSpec.from_stored(stored) == spec == parse_spec(stored) and parse_spec(stored).to_dict() == stored


def test_costing_takes_the_tasks_sequence_length_and_vocabulary() -> None:
    space = get_space("flexibert", "nas-bench-bert")

    def shape(task: Any) -> TextTaskShape:
        return _task_shape(parse_spec({"name": "c", "space": "flexibert", "preset": "nas-bench-bert", "task": task}).task, space)

    assert shape("rotten-tomatoes") == BUILTIN_TASKS["rotten-tomatoes"]
    long = shape({"name": "rotten-tomatoes", "max_len": 256, "vocab_size": 2000})
    assert long == TextTaskShape(vocab_size=2000, max_len=256, num_classes=2)
    assert cheapest_cost("flexibert", "nas-bench-bert", long).flops > cheapest_cost("flexibert", "nas-bench-bert", BUILTIN_TASKS["rotten-tomatoes"]).flops
    assert shape({"generate": "listops"}) == TextTaskShape(vocab_size=33, max_len=172, num_classes=10)  # what its words can take, not 8,000


def test_strategy_names_come_from_one_registry() -> None:
    from surrogates.registry import STRATEGIES, STRATEGY_NAMES

    assert JobSpec.model_fields["strategy"].annotation.__args__ == STRATEGY_NAMES == tuple(STRATEGIES)
    assert any(f"strategy: 'grid' not in {{{', '.join(STRATEGY_NAMES)}}}" in p for p in problems_of(spec_with(strategy="grid")))


def test_task_data_is_checked_at_submission(tmp_path: Path) -> None:
    import numpy as np

    (tmp_path / "cols.csv").write_text("body,stars\ngood,5\nbad,1\n")
    (tmp_path / "one.csv").write_text("text,label\ngood,1\nfine,1\n")
    np.savez(tmp_path / "keys.npz", pictures=np.zeros((2, 8, 8)), labels=np.array([0, 1]))
    text = {"name": "t", "space": "flexibert"}
    assert any("task.csv: " in p and "no column 'text'" in p for p in problems_of({**text, "task": {"csv": str(tmp_path / "cols.csv")}}))
    assert any("only one class ('1')" in p for p in problems_of({**text, "task": {"csv": str(tmp_path / "one.csv")}}))
    assert any("missing array 'images'" in p for p in problems_of(spec_with(task={"npz": str(tmp_path / "keys.npz")})))
    parse_spec({**text, "task": {"csv": str(tmp_path / "cols.csv"), "text_column": "body", "label_column": "stars"}})  # the right columns pass


def test_a_servers_data_root_confines_task_files_and_hides_its_paths(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret.csv").write_text("SECRET-1,api_key=hunter2\n1,2\n")
    (root / "reviews.csv").write_text("body,label\ngood,1\nbad,0\n")
    text = {"name": "t", "space": "flexibert"}

    def problems(task: dict[str, Any]) -> list[str]:
        with pytest.raises(SpecError) as info:
            parse_spec({**text, "task": task}, data_root=root)
        return info.value.problems

    for outside in (str(tmp_path / "secret.csv"), "../secret.csv", str(tmp_path / "missing.csv")):  # existing or not: one answer
        (message,) = problems({"csv": outside})
        assert message == f"task.csv: {outside!r} is not inside the server's data directory; upload the file there and name it relative to it"
    (message,) = problems({"csv": "reviews.csv"})  # the default column 'text' is missing
    assert "no column 'text'" in message and "body" not in message and str(root) not in message
    spec = parse_spec({**text, "task": {"csv": "reviews.csv", "text_column": "body"}}, data_root=root)
    assert spec.task.csv == str((root / "reviews.csv").resolve())


def test_a_spec_path_that_is_not_a_regular_file_is_refused_without_reading(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)  # reading it would block until a writer came
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(fifo)
    os.mkfifo(tmp_path / "data.csv")
    assert any(p.startswith("task.csv: not a file") for p in problems_of({"name": "t", "space": "flexibert", "task": {"csv": str(tmp_path / "data.csv")}}))
