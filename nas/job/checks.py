"""The checks of a spec that depend on several fields (space and preset, task and space,
benchmark mode, metric names, supernet settings, constraints no architecture can meet), run once
at submission. Each problem is appended as "field.path: message"."""

from __future__ import annotations

import dataclasses
import functools
import random
from pathlib import Path
from typing import Any

from nas.datasets import client_message
from nas.job.errors import choices
from nas.job.schema import (
    BENCHMARK_PRESET,
    BENCHMARK_SPACE,
    GENERATOR_FIELDS,
    Budget,
    Constraints,
    LatencySpec,
    ResourcesSpec,
    SupernetSpec,
    TaskSpec,
    VerifySpec,
)
from nas.paths import data_home
from nas.tasks.catalog import (
    BENCHMARK_METRICS,
    BENCHMARK_TASK,
    BUILTIN_TASKS,
    BUILTIN_TRAIN_EXAMPLES,
    FILE_FORMATS,
    GENERATED_TASKS,
    text_settings,
    training_share,
)
from nas.tasks.generated import GENERATORS, generated_task
from search_spaces import Cost, SearchSpace, TaskShape, TextTaskShape, get_space, space_names
from search_spaces.registry import SPACES
from surrogates.tabular import NAS_BENCH_BERT_TASK

_CHEAPEST_MAX_DRAWS = 5000
_KIND_PHRASE = {"text": "a text", "image": "an image"}


def resolve(fields: dict[str, Any], given: set[str], base_dir: Path, problems: list[str], data_root: Path | None = None) -> dict[str, Any]:
    """Check what depends on several fields, appending to `problems`, and return the fields with
    their defaults resolved. `fields` holds only the structurally valid fields."""
    out = {name: value for name, value in fields.items()}
    task, train_examples = _check_task(fields["task"], base_dir, problems, data_root) if "task" in fields else (None, None)
    if task is not None:
        out["task"] = task
    benchmark = task is not None and task.is_benchmark

    space = _check_space(fields, task, problems)
    if space is not None:
        out["preset"] = space.preset

    first_at: dict[str, int] = {}
    for i, objective in enumerate(fields.get("objectives", [])):
        earlier = first_at.setdefault(objective.metric, i)
        if earlier != i:
            problems.append(f"objectives[{i}].metric: {objective.metric!r} repeats objectives[{earlier}]; each metric once")
        if benchmark and objective.metric not in BENCHMARK_METRICS:
            problems.append(f"objectives[{i}].metric: {objective.metric!r} is not available in benchmark mode (task {BENCHMARK_TASK}); choose from {choices(BENCHMARK_METRICS)}")

    constraints: Constraints | None = fields.get("constraints")
    if constraints is not None:
        if benchmark and constraints.latency_ms_max is not None:
            problems.append(f"constraints.latency_ms_max: latency is not available in benchmark mode (task {BENCHMARK_TASK})")
        if space is not None and task is not None:
            _check_reachable(constraints, space, _task_shape(task, space), problems)

    supernet: SupernetSpec | None = fields.get("supernet")
    if benchmark:
        if "supernet" in given:
            problems.append(f"supernet: does not apply in benchmark mode (task {BENCHMARK_TASK} replays a table; nothing is trained)")
        out["supernet"] = None
        if "verify" in given:
            problems.append(f"verify: does not apply in benchmark mode (task {BENCHMARK_TASK} replays a table; nothing is trained)")
        out["verify"] = None
        if "latency" in given:
            problems.append(f"latency: does not apply in benchmark mode (task {BENCHMARK_TASK} has no latency)")
        out["latency"] = None
        if "rungs" in given:
            problems.append(f"rungs: does not apply in benchmark mode (task {BENCHMARK_TASK} replays a table; nothing is trained)")
        out["rungs"] = None
        budget: Budget | None = fields.get("budget")
        if budget is not None and budget.cpu_minutes is not None:
            problems.append(f"budget.cpu_minutes: does not apply in benchmark mode (task {BENCHMARK_TASK} replays a table; nothing is computed); use budget.candidates")
    elif "supernet" in fields:
        supernet = (supernet or SupernetSpec()).resolved(task.kind if task is not None else "image", train_examples)
        out["supernet"] = supernet
        problems.extend(supernet.problems() + supernet.step_problems(train_examples))
        if "verify" in fields:  # its standalone trainings use the supernet's training split
            out["verify"] = (fields["verify"] or VerifySpec()).resolved(supernet.trained_examples(train_examples))
        if "latency" in fields:
            latency = fields["latency"] or LatencySpec()
            # Where latency is only reported (no objective, limit or section asks for it), a
            # fractional evaluator may still measure it: the figure informs, it decides nothing.
            decides = "latency" in given or (constraints is not None and constraints.latency_ms_max is not None) or any(o.metric == "latency_ms" for o in fields.get("objectives", []))
            out["latency"] = _check_latency(latency, fields.get("resources") or ResourcesSpec(), problems) if decides else latency
        if supernet.mlm_epochs and task is not None and task.kind == "image":
            problems.append(f"supernet.mlm_epochs: masked-LM pretraining needs a text task; {_task_label(task)} is {_KIND_PHRASE['image']} task")
    return out


def _check_latency(latency: LatencySpec, resources: ResourcesSpec, problems: list[str]) -> LatencySpec:
    """A measurement may use no more threads than its evaluator holds CPUs: the others' calls
    would share its cores and slow it by an amount that varies with what they do."""
    cpus = resources.evaluator.cpus
    if latency.threads > cpus:
        # Below one CPU, fewer threads is no way out: a measurement takes at least one.
        fewer = f" or measure with {int(cpus)} thread{'s' * (int(cpus) > 1)}" if int(cpus) >= 1 else ""
        problems.append(
            f"latency.threads: {latency.threads} exceeds resources.evaluator.cpus={cpus:g} (the measurement would share CPUs with other evaluators); "
            f"give each evaluator {latency.threads} CPU{'s' * (latency.threads > 1)} (resources.evaluator.cpus: {latency.threads}){fewer}"
        )
    return latency


def _check_task(task: TaskSpec, base_dir: Path, problems: list[str], data_root: Path | None = None) -> tuple[TaskSpec | None, int | None]:
    """The task with file paths made absolute and the text columns' defaults filled, and its
    number of training examples (None where unknown); no task (after recording why) if it does
    not name one known task or one file. Its data is read as far as needed to know it will load
    (columns, arrays, two classes).

    With `data_root` (a server's), a file must lie inside it, relative paths are taken from it, and
    messages quote the path as given, never the server's own paths or the file's content."""
    given = [key for key in ("name", *FILE_FORMATS, "dataset", "generate") if getattr(task, key) is not None]
    if len(given) != 1:
        problems.append(
            f"task: give a task name, a dataset id, or exactly one of {choices(FILE_FORMATS)} with a path, or generate: "
            f"{choices(GENERATED_TASKS)}; got {choices(given) if given else 'none'}"
        )
        return None, None
    key = given[0]
    if key == "dataset":  # an upload: checked as its file, its problems named as the dataset's
        uploaded = _uploaded_file(task, data_root, problems)
        if uploaded is None:
            return None, None
        fmt = next(k for k in FILE_FORMATS if getattr(uploaded, k) is not None)
        found: list[str] = []
        checked = _check_task(uploaded, base_dir, found, data_root)
        problems.extend(p.replace(f"task.{fmt}: ", "task.dataset: ", 1) for p in found)
        return checked
    updates: dict[str, Any] = {}
    readable = False
    if key == "name":
        known = (*BUILTIN_TASKS, BENCHMARK_TASK)
        if task.name not in known:
            problems.append(f"task: {task.name!r} not in {choices(known)}; or give a file: {{csv: path}}, {{jsonl: path}} or {{npz: path}}, or generate: {choices(GENERATED_TASKS)}")
            return None, None
    elif key != "generate":
        requested = getattr(task, key)
        path = _task_path(requested, base_dir, data_root)
        shown = repr(requested) if data_root is not None else str(path)
        if path is None:
            problems.append(f"task.{key}: {requested!r} is not inside the server's data directory; upload the file there and name it relative to it")
            return None, None
        readable = path.is_file()
        if not path.exists():
            problems.append(f"task.{key}: file not found: {shown}")
        elif not readable:
            problems.append(f"task.{key}: not a file: {shown}")
        updates[key] = str(path.resolve())
    if key in ("csv", "jsonl"):
        updates["text_column"] = task.text_column or "text"
        updates["label_column"] = task.label_column or "label"
    else:
        for column in ("text_column", "label_column"):
            if getattr(task, column) is not None:
                problems.append(f"task.{column}: only csv and jsonl tasks have columns")
    if key != "generate":
        problems.extend(f"task.{field}: only generated tasks (generate: {choices(GENERATED_TASKS)}) have it" for field in GENERATOR_FIELDS if getattr(task, field) is not None)
    if task.kind != "text":
        what = "the benchmark replays a table" if task.is_benchmark else f"{_task_label(task)} is an image task"
        problems.extend(f"task.{field}: only text tasks have a tokenizer; {what}" for field in ("vocab_size", "max_len") if getattr(task, field) is not None)
    if key == "generate":
        return _check_generated(task, problems)
    checked = task.model_copy(update=updates)
    if key == "name" and checked.name != "fashion-mnist":  # nothing to read: the data ships with the package or a wheel
        return checked, BUILTIN_TRAIN_EXAMPLES.get(checked.name)
    return checked, _check_data(checked, key, data_root, problems) if key == "name" or readable else None


def _check_generated(task: TaskSpec, problems: list[str]) -> tuple[TaskSpec | None, int | None]:
    """A generated task with its settings and its tokenizer's settings filled (so that the stored
    job loads the same task whatever later defaults are), and its training examples; nothing is
    generated."""
    try:
        generated = generated_task(task.to_load_spec())
        text = text_settings(task.to_load_spec())
    except ValueError as exc:
        problems.append(f"task.{exc}")
        return None, None
    filled = {**generated.to_spec(), "vocab_size": text.vocab_size, "max_len": text.max_len}
    return task.model_copy(update=filled), training_share(generated.examples)


def _uploaded_file(task: TaskSpec, data_root: Path | None, problems: list[str]) -> TaskSpec | None:
    """The dataset task as the file task of its upload (None, after recording why, if unknown)."""
    from nas.datasets import DatasetNotFound, dataset_file, get_dataset

    root = data_root if data_root is not None else data_home() / "data"
    try:
        dataset = get_dataset(root, task.dataset)
    except DatasetNotFound as exc:
        problems.append(f"task.dataset: {exc}")
        return None
    columns = {"text_column": task.text_column or dataset.text_column, "label_column": task.label_column or dataset.label_column} if dataset.format != "npz" else {}
    return task.model_copy(update={"dataset": None, dataset.format: str(dataset_file(root, dataset.id)), **columns})


def _task_path(requested: str, base_dir: Path, data_root: Path | None) -> Path | None:
    """The file a task names; None if a server's data root is given and it lies outside."""
    if data_root is None:
        path = Path(requested).expanduser()
        return path if path.is_absolute() else base_dir / path
    root = data_root.resolve()
    path = (root / requested).resolve()  # `..` and symlinks resolved before the check
    return path if path.is_relative_to(root) and path != root else None


def _check_data(task: TaskSpec, key: str, data_root: Path | None, problems: list[str]) -> int | None:
    """The task's training examples, once its data is read; None (after recording why) if it cannot load."""
    from nas.tasks.data import TaskDataError, check_task_data  # reads the data: only file tasks pay

    try:
        return check_task_data(task.to_load_spec())
    except TaskDataError as exc:
        message = str(exc)
        if data_root is not None:  # a client sees its own name for the file, and no content of it
            message = client_message(message, str(getattr(task, key)), Path(getattr(task, key)).name)
        problems.append(f"task.{key}: {message}" if key != "name" else f"task: {message}")
        return None


def _check_space(fields: dict[str, Any], task: TaskSpec | None, problems: list[str]) -> SearchSpace | None:
    """The configured space (its preset resolved), or None after recording why there is none:
    an unknown space or preset, or one that cannot take the task."""
    name, preset = fields.get("space"), fields.get("preset")
    if name is None:
        return None
    if name not in SPACES:
        problems.append(f"space: {name!r} not in {choices(space_names())}")
        return None
    benchmark = task is not None and task.is_benchmark
    if benchmark and name != BENCHMARK_SPACE:
        problems.append(f"space: benchmark mode (task {BENCHMARK_TASK}) needs space {BENCHMARK_SPACE}, got {name!r}")
        return None
    if preset is not None and preset not in SPACES[name].presets:
        problems.append(f"preset: {preset!r} not in {choices(SPACES[name].presets)} for space {name}")
        return None
    space = get_space(name, BENCHMARK_PRESET if benchmark and preset is None else preset)
    if benchmark and space.preset != BENCHMARK_PRESET:
        problems.append(f"preset: benchmark mode (task {BENCHMARK_TASK}) needs preset {BENCHMARK_PRESET}, got {space.preset!r}")
        return None
    if task is not None and not benchmark and task.kind != _space_kind(space):
        problems.append(f"task: {_task_label(task)} is {_KIND_PHRASE[task.kind]} task; space {name} takes {_space_kind(space)} tasks")
        return None
    return space


def _space_kind(space: SearchSpace) -> str:
    return "text" if isinstance(space.default_task(), TextTaskShape) else "image"


def _task_label(task: TaskSpec) -> str:
    kind, value = task.source or ("name", "the task")
    return repr(value if kind == "name" else Path(value).name)


def _task_shape(task: TaskSpec, space: SearchSpace) -> TaskShape:
    """The task's input shape, for costing. User files are not opened here: their shape is
    approximated by the preset's default task with two classes (the fewest a classification
    has), so the estimate errs towards accepting a constraint. A text task takes its tokenizer's
    settings; a generated task's vocabulary is costed at the most entries its words can take,
    where that is below its vocab_size."""
    if task.is_benchmark:
        return NAS_BENCH_BERT_TASK
    if task.name is not None:
        shape = BUILTIN_TASKS[task.name]
    else:
        classes = len(GENERATORS[task.generate].classes) if task.generate is not None else 2
        shape = dataclasses.replace(space.default_task(), num_classes=classes)
    if not isinstance(shape, TextTaskShape):
        return shape
    text = text_settings(task.to_load_spec())
    return dataclasses.replace(shape, vocab_size=min(text.vocab_size, text.vocab_needed or text.vocab_size), max_len=text.max_len)


def _check_reachable(constraints: Constraints, space: SearchSpace, shape: TaskShape, problems: list[str]) -> None:
    """A params / FLOPs limit below the cheapest architecture of the space cannot be met."""
    if constraints.params_max is None and constraints.flops_max is None:
        return
    cheapest = cheapest_cost(space.name, space.preset, shape)
    for field, limit, least in (("params_max", constraints.params_max, cheapest.params), ("flops_max", constraints.flops_max, cheapest.flops)):
        if limit is not None and limit < least:
            what = field.removesuffix("_max")
            problems.append(f"constraints.{field}: {limit:,.0f} is below the smallest architecture of {space.name}/{space.preset} on this task ({least:,} {what}); raise it to at least {least:,}")


@functools.lru_cache(maxsize=64)
def cheapest_cost(space_name: str, preset: str, shape: TaskShape) -> Cost:
    """The fewest parameters and the fewest FLOPs (each minimised on its own) of any architecture
    of the preset on `shape`.

    The minimum lies in the space cut to its smallest choices (`extreme(rng, largest=False)`
    draws from it), but unordered decisions such as operation types stay open there and change
    the cost, so that sub-space is enumerated by sampling until all its `size()` members are seen
    (presets' smallest sub-spaces have at most a few hundred).
    """
    space = get_space(space_name, preset)
    smallest = space.narrowed(0.0, largest=False)
    rng, size, seen = random.Random(0), smallest.size(), {}
    for _ in range(_CHEAPEST_MAX_DRAWS):
        arch = smallest.sample(rng)
        seen.setdefault(arch.arch_id, arch)
        if len(seen) >= size:
            break
    costs = [space.cost(arch, shape) for arch in seen.values()]
    return Cost(params=min(c.params for c in costs), flops=min(c.flops for c in costs))
