"""Job specs: what a user asks the service to search, validated before anything is stored.

A spec is YAML or JSON (see examples/). `parse_spec` checks it in two passes and reports every
problem at once, each as "field.path: message": first the structure (pydantic: types, ranges,
unknown fields), then what depends on several fields (space and preset, task and space,
benchmark mode, metric names, constraints no architecture can meet). The result is a frozen
`JobSpec` whose `to_dict()` (defaults filled, paths absolute) is what the store keeps.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails

from nas.store.models import METRICS
from search_spaces import Cost, ImageTaskShape, SearchSpace, TaskShape, TextTaskShape, get_space, space_names
from search_spaces.registry import SPACES
from surrogates.base import Objective
from surrogates.tabular import NAS_BENCH_BERT_TASK

if TYPE_CHECKING:
    from nas.store import JobRecord, Store

STRATEGIES = ("boshnas", "botorch", "evolution", "random", "tpe", "nsga2")
GOALS = ("maximize", "minimize")
FILE_FORMATS = ("csv", "jsonl", "npz")
BENCHMARK_TASK = "nas-bench-bert"  # tabular replay of NAS-Bench-BERT: nothing is trained
BENCHMARK_SPACE, BENCHMARK_PRESET = "flexibert", "nas-bench-bert"
BENCHMARK_METRICS = ("accuracy", "params", "flops")  # the table has no latency

# Text tasks are tokenised to this vocabulary and length (nas.data.load_task's defaults; a test
# keeps them in step). The shapes are spelled out here because loading a task imports torch.
TEXT_VOCAB_SIZE, TEXT_MAX_LEN = 8000, 64
BUILTIN_TASKS: dict[str, TaskShape] = {
    "digits": ImageTaskShape(channels=1, image_size=8, num_classes=10),
    "fashion-mnist": ImageTaskShape(channels=1, image_size=28, num_classes=10),
    "rotten-tomatoes": TextTaskShape(vocab_size=TEXT_VOCAB_SIZE, max_len=TEXT_MAX_LEN, num_classes=2),
}
_CHEAPEST_MAX_DRAWS = 5000
_KIND_PHRASE = {"text": "a text", "image": "an image"}


class SpecError(ValueError):
    """An invalid spec; `problems` lists every problem found, each "field.path: message"."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# ---- structure ----


class _Strict(BaseModel):
    # strict: YAML's `true` is not a count and "5" is not a number.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ObjectiveSpec(_Strict):
    metric: Literal[METRICS]  # type: ignore[valid-type]
    goal: Literal[GOALS] = "maximize"  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _default_goal(cls, data: Any) -> Any:
        # Accuracy is maximised, costs are minimised: a goal is only needed to say otherwise.
        if isinstance(data, Mapping) and "goal" not in data and data.get("metric") in METRICS:
            return {**data, "goal": "maximize" if data["metric"] == "accuracy" else "minimize"}
        return data

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"


class TaskSpec(_Strict):
    """A built-in task by name (written as a plain string) or a user file: exactly one of
    name, csv, jsonl, npz."""

    name: str | None = None
    csv: str | None = None
    jsonl: str | None = None
    npz: str | None = None
    text_column: str | None = None  # csv / jsonl only; default "text"
    label_column: str | None = None  # csv / jsonl only; default "label"

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a task name or a file such as {{csv: path, text_column: text, label_column: label}}, got {_describe(data)}")
        return data

    @property
    def source(self) -> tuple[str, str] | None:
        """(kind, value): ("name", "digits"), ("csv", "/abs/reviews.csv"), ...; None if not exactly one."""
        given = [(key, value) for key in ("name", *FILE_FORMATS) if (value := getattr(self, key)) is not None]
        return given[0] if len(given) == 1 else None

    @property
    def is_benchmark(self) -> bool:
        return self.name == BENCHMARK_TASK

    @property
    def kind(self) -> str:
        """text | image | benchmark."""
        if self.is_benchmark:
            return "benchmark"
        if self.name is not None:
            return "text" if isinstance(BUILTIN_TASKS.get(self.name), TextTaskShape) else "image"
        return "image" if self.npz is not None else "text"

    def to_load_spec(self) -> str | dict[str, str]:
        """What `nas.data.load_task` takes."""
        if self.name is not None:
            return self.name
        return self.model_dump(exclude_none=True)


class Constraints(_Strict):
    params_max: float | None = Field(None, gt=0)
    flops_max: float | None = Field(None, gt=0)
    latency_ms_max: float | None = Field(None, gt=0)


class Budget(_Strict):
    candidates: int = Field(100, ge=1)
    max_minutes: float | None = Field(None, gt=0)


# Subnets per supernet step when a spec does not say, by task kind. Image batches are split among
# four subnets (multi-architectural sampling pays at ViT batch sizes). A text supernet trains one
# subnet on the whole batch: slices of a text batch under-train the larger FlexiBERT subnets
# (docs/benchmarks/supernet.md).
DEFAULT_ARCHS_PER_STEP = {"image": 4, "text": 1}


class SupernetSpec(_Strict):
    epochs: int = Field(5, ge=1)
    archs_per_step: int | None = Field(None, ge=1)  # parse_spec fills DEFAULT_ARCHS_PER_STEP[task kind]
    batch_size: int = Field(128, ge=1)
    mlm_epochs: int = Field(0, ge=0)  # text tasks: masked-LM pretraining on the task's text first
    max_train: int | None = Field(None, ge=1)  # a deterministic training subset, for fast runs
    lr: float = Field(2e-3, gt=0)
    # Every step also trains the largest and the smallest subnet; parse_spec fills "whenever a
    # step trains two or more subnets".
    sandwich: bool | None = None
    warmup_epochs: int = Field(2, ge=0)  # curriculum: choices widen from the largest over these epochs


class JobSpec(_Strict):
    """A validated job. Build it with `parse_spec` / `load_spec`: this model's own validation is
    structural only; the checks across fields, and the filled defaults, come from `parse_spec`."""

    name: str = Field(min_length=1, max_length=200)
    space: str
    preset: str | None = None  # parse_spec fills the space's default (nas-bench-bert in benchmark mode)
    task: TaskSpec
    objectives: list[ObjectiveSpec] = Field(default_factory=lambda: [ObjectiveSpec(metric="accuracy")], min_length=1)
    constraints: Constraints = Constraints()
    strategy: Literal[STRATEGIES] = "boshnas"  # type: ignore[valid-type]
    budget: Budget = Budget()
    supernet: SupernetSpec | None = None  # parse_spec fills the defaults, except in benchmark mode
    workers: int = Field(1, ge=1)
    seed: int = Field(0, ge=0)

    @property
    def is_benchmark(self) -> bool:
        return self.task.is_benchmark

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-ready form, as stored: defaults filled, unset options left out."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["task"] = self.task.to_load_spec()
        return data

    def search_space(self) -> SearchSpace:
        return get_space(self.space, self.preset)

    def surrogate_objectives(self) -> list[Objective]:
        """The objectives as strategies take them; the first is primary."""
        return [Objective(o.metric, o.maximize) for o in self.objectives]

    def pareto_objectives(self) -> list[tuple[str, bool]]:
        """(metric, maximize) pairs, as `Store.pareto` takes them."""
        return [(o.metric, o.maximize) for o in self.objectives]


# ---- entry points ----


def load_spec(path: Path) -> JobSpec:
    """Read a YAML or JSON spec; relative task paths are taken from the spec file's directory."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read ({exc.__class__.__name__}: {exc})"]) from None
    if not text.strip():
        raise SpecError([f"{path}: empty file; expected a YAML or JSON job spec"])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            data = yaml.safe_load(text)  # YAML also reads flow mappings like {name: x, ...}
        except yaml.YAMLError as exc:
            if text.lstrip().startswith("{"):  # meant as JSON: its error is the precise one
                raise SpecError([f"{path}:{json_error.lineno}:{json_error.colno}: not valid JSON ({json_error.msg})"]) from None
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            raise SpecError([f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})"]) from None
    if not isinstance(data, Mapping):
        raise SpecError([f"{path}: expected a mapping of spec fields (name, space, task, ...), got {type(data).__name__}"])
    return parse_spec(data, base_dir=path.resolve().parent)


def parse_spec(data: Mapping[str, Any], base_dir: Path | None = None) -> JobSpec:
    """Validate decoded spec data (relative task paths from `base_dir`, default the working
    directory). Raises SpecError listing every problem."""
    if not isinstance(data, Mapping):
        raise SpecError([f"spec: expected a mapping of spec fields, got {type(data).__name__}"])
    problems: list[str] = []
    try:
        fields = dict(JobSpec.model_validate(data))
    except ValidationError as err:
        problems += [_format_error(e) for e in err.errors()]
        fields = _valid_fields(data, {e["loc"][0] for e in err.errors() if e["loc"]})
    resolved = _resolve(fields, set(data), base_dir or Path.cwd(), problems)
    if problems:
        raise SpecError(problems)
    return JobSpec.model_validate(resolved)


def submit(store: Store, source: Path | Mapping[str, Any]) -> JobRecord:
    """Validate a spec (a file or decoded data), then queue it: an invalid spec raises SpecError
    before anything is written."""
    spec = load_spec(source) if isinstance(source, Path) else parse_spec(source)
    return store.create_job(spec.to_dict(), spec.name)


# ---- checks across fields ----


def _resolve(fields: dict[str, Any], given: set[str], base_dir: Path, problems: list[str]) -> dict[str, Any]:
    """Check what depends on several fields, appending to `problems`, and return the fields with
    their defaults resolved. `fields` holds only the structurally valid fields."""
    out = {name: value for name, value in fields.items()}
    task = _check_task(fields["task"], base_dir, problems) if "task" in fields else None
    if task is not None:
        out["task"] = task
    benchmark = task is not None and task.is_benchmark

    space = _check_space(fields, task, problems)
    if space is not None:
        out["preset"] = space.preset

    for i, objective in enumerate(fields.get("objectives", [])):
        earlier = [j for j, o in enumerate(fields["objectives"][:i]) if o.metric == objective.metric]
        if earlier:
            problems.append(f"objectives[{i}].metric: {objective.metric!r} repeats objectives[{earlier[0]}]; each metric once")
        if benchmark and objective.metric not in BENCHMARK_METRICS:
            problems.append(f"objectives[{i}].metric: {objective.metric!r} is not available in benchmark mode (task {BENCHMARK_TASK}); choose from {_choices(BENCHMARK_METRICS)}")

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
    elif "supernet" in fields:
        supernet = supernet or SupernetSpec()
        archs = supernet.archs_per_step or DEFAULT_ARCHS_PER_STEP[task.kind if task is not None else "image"]
        supernet = supernet.model_copy(update={"archs_per_step": archs, "sandwich": archs >= 2 if supernet.sandwich is None else supernet.sandwich})
        out["supernet"] = supernet
        if supernet.archs_per_step > supernet.batch_size:
            problems.append(f"supernet.archs_per_step: {supernet.archs_per_step} exceeds supernet.batch_size={supernet.batch_size} (each subnet trains on its own slice of a batch)")
        if supernet.mlm_epochs and task is not None and task.kind == "image":
            problems.append(f"supernet.mlm_epochs: masked-LM pretraining needs a text task; {_task_label(task)} is {_KIND_PHRASE['image']} task")
    return out


def _check_task(task: TaskSpec, base_dir: Path, problems: list[str]) -> TaskSpec | None:
    """The task with file paths made absolute and the text columns' defaults filled; None (after
    recording why) if it does not name one known task or one file."""
    given = [key for key in ("name", *FILE_FORMATS) if getattr(task, key) is not None]
    if len(given) != 1:
        problems.append(f"task: give a task name, or exactly one of {_choices(FILE_FORMATS)} with a path; got {_choices(given) if given else 'none'}")
        return None
    key = given[0]
    updates: dict[str, Any] = {}
    if key == "name":
        known = (*BUILTIN_TASKS, BENCHMARK_TASK)
        if task.name not in known:
            problems.append(f"task: {task.name!r} not in {_choices(known)}; or give a file: {{csv: path}}, {{jsonl: path}} or {{npz: path}}")
            return None
    else:
        path = Path(getattr(task, key)).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            problems.append(f"task.{key}: file not found: {path}")
        elif not path.is_file():
            problems.append(f"task.{key}: not a file: {path}")
        updates[key] = str(path.resolve())
    if key in ("csv", "jsonl"):
        updates["text_column"] = task.text_column or "text"
        updates["label_column"] = task.label_column or "label"
    else:
        for column in ("text_column", "label_column"):
            if getattr(task, column) is not None:
                problems.append(f"task.{column}: only csv and jsonl tasks have columns")
    return task.model_copy(update=updates)


def _check_space(fields: dict[str, Any], task: TaskSpec | None, problems: list[str]) -> SearchSpace | None:
    """The configured space (its preset resolved), or None after recording why there is none:
    an unknown space or preset, or one that cannot take the task."""
    name, preset = fields.get("space"), fields.get("preset")
    if name is None:
        return None
    if name not in SPACES:
        problems.append(f"space: {name!r} not in {_choices(space_names())}")
        return None
    benchmark = task is not None and task.is_benchmark
    if benchmark and name != BENCHMARK_SPACE:
        problems.append(f"space: benchmark mode (task {BENCHMARK_TASK}) needs space {BENCHMARK_SPACE}, got {name!r}")
        return None
    if preset is not None and preset not in SPACES[name].presets:
        problems.append(f"preset: {preset!r} not in {_choices(SPACES[name].presets)} for space {name}")
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
    approximated by the preset's default task with the load_task text settings and two classes
    (the fewest a classification has), so the estimate errs towards accepting a constraint."""
    if task.is_benchmark:
        return NAS_BENCH_BERT_TASK
    if task.name is not None:
        return BUILTIN_TASKS[task.name]
    default = space.default_task()
    if isinstance(default, TextTaskShape):
        return dataclasses.replace(default, vocab_size=TEXT_VOCAB_SIZE, max_len=TEXT_MAX_LEN, num_classes=2)
    return dataclasses.replace(default, num_classes=2)


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


# ---- pydantic errors as "path: message" ----

_CHOICES_BY_FIELD = {"metric": METRICS, "goal": GOALS, "strategy": STRATEGIES}
_FIELD_ADAPTERS = {
    name: TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)
    for name, field in JobSpec.model_fields.items()
}


def _valid_fields(data: Mapping[str, Any], bad: set[Any]) -> dict[str, Any]:
    """The top-level fields that passed validation (each validated on its own, defaults for those
    not given), so that the checks across fields can still run beside structural errors."""
    out: dict[str, Any] = {}
    for name, field in JobSpec.model_fields.items():
        if name in bad:
            continue
        if name in data:
            out[name] = _FIELD_ADAPTERS[name].validate_python(data[name])
        elif not field.is_required():
            out[name] = field.get_default(call_default_factory=True)
    return out


def _format_error(error: ErrorDetails) -> str:
    loc, value, kind, ctx = error["loc"], error.get("input"), error["type"], error.get("ctx", {})
    path = _path(loc) or "spec"
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        return f"{path}: unknown field" + (f"; allowed: {_choices(allowed)}" if allowed else "")
    if kind == "missing":
        return f"{path}: missing required field"
    if kind == "literal_error":
        choices = _CHOICES_BY_FIELD.get(str(loc[-1]))
        return f"{path}: {_describe(value)} not in " + (_choices(choices) if choices else f"{{{ctx.get('expected')}}}")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()))
        return f"{path}: {_describe(value)} must be {sign} {bound}"
    if kind in ("too_short", "string_too_short"):
        return f"{path}: must not be empty"
    if kind == "string_too_long":
        return f"{path}: longer than {ctx.get('max_length')} characters"
    expected = {
        "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
        "float_type": "a number", "float_parsing": "a number", "string_type": "a string",
        "model_type": "an object (mapping)", "dict_type": "an object (mapping)", "list_type": "a list",
    }.get(kind)  # fmt: skip
    if expected is not None:
        return f"{path}: expected {expected}, got {type(value).__name__} {_describe(value)}"
    if kind == "value_error":
        return f"{path}: {ctx.get('error')}"
    return f"{path}: {error['msg']}"


def _path(loc: tuple[int | str, ...]) -> str:
    """("objectives", 1, "metric") -> "objectives[1].metric"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model at `loc` (for "unknown field" messages)."""
    model: type[BaseModel] | None = JobSpec
    for part in loc:
        if isinstance(part, int) or model is None:
            continue  # a list index: the item model was found with its list
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation such as `list[X]` or `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _choices(values: Any) -> str:
    return "{" + ", ".join(str(v) for v in values) + "}"


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
