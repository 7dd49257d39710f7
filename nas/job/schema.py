"""Job specs: what a user asks the service to search. The pydantic models here check structure
(types, ranges, unknown fields); `nas.job.parse` adds the checks across fields and fills the
defaults at submission, and `JobSpec.from_stored` reads the stored canonical form back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nas.job.errors import bounds_text, describe
from nas.job.formats import LATENCY_RUNTIMES, MIN_LATENCY_CALIBRATION
from nas.job.metrics import GOALS, METRICS, default_goal
from nas.tasks.catalog import BENCHMARK_TASK, BUILTIN_TASKS, FILE_FORMATS, GENERATED_TASKS, MAX_LEN_RANGE, VOCAB_SIZE_RANGE, builtin_kind
from nas.tasks.generated import GENERATORS, MAX_EXAMPLES, MIN_EXAMPLES, SETTING_BOUNDS
from search_spaces import SearchSpace, get_space
from search_spaces.base import PLAIN_LEVELS
from surrogates.base import Objective
from surrogates.registry import STRATEGY_NAMES

BENCHMARK_SPACE, BENCHMARK_PRESET = "flexibert", "nas-bench-bert"
MAX_WORKERS = 256  # evaluator actors of one job
MAX_SUPERNET_WORKERS = 64  # Ray Train workers of one supernet
# Upper bounds of the spec's other numbers, beyond what any real run asks (the digits default is
# 25 epochs of 128; large GPU runs use hundreds of epochs and batches of thousands), so that a typo
# or an overflow (1e9 epochs) is refused at submission, naming the field and its range.
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_LR = 10.0  # AdamW's peak rate: useful ones lie between 1e-5 and 1e-2
MAX_TRAIN_EXAMPLES = 1_000_000_000
MAX_MINUTES = 366 * 24 * 60  # a year
MAX_CPU_MINUTES = 1_000_000_000  # about 1,900 CPU-years: no real limit, a typo guard
MAX_PARAMS, MAX_FLOPS, MAX_LATENCY_MS = 1e12, 1e18, 3_600_000.0  # a trillion parameters; an hour per example
MAX_CUSTOM_RESOURCE = 1_000_000  # of one Ray custom resource per task: slots, licences, node tags


class _Strict(BaseModel):
    # strict: YAML's `true` is not a count and "5" is not a number; infinities and NaN are no
    # budget, limit or rate.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class ObjectiveSpec(_Strict):
    metric: Literal[METRICS]  # type: ignore[valid-type]
    goal: Literal[GOALS] = "maximize"  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _default_goal(cls, data: Any) -> Any:
        # A goal is only needed to go against the metric's usual direction.
        if isinstance(data, Mapping) and "goal" not in data and data.get("metric") in METRICS:
            return {**data, "goal": default_goal(data["metric"])}
        return data

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"


class TaskSpec(_Strict):
    """A built-in task by name (written as a plain string), a user file, a dataset uploaded to the
    server (POST /datasets; resolved to its file when the spec is checked) or a generated task:
    exactly one of name, csv, jsonl, npz, dataset, generate. Text tasks also take the tokenizer's
    settings (vocab_size, max_len)."""

    name: str | None = None
    csv: str | None = None
    jsonl: str | None = None
    npz: str | None = None
    dataset: str | None = Field(None, description="The id POST /datasets answered, e.g. ds-0123456789abcdef.")
    generate: Literal[GENERATED_TASKS] | None = None  # type: ignore[valid-type]
    text_column: str | None = None  # csv / jsonl only; default "text"
    label_column: str | None = None  # csv / jsonl only; default "label"
    # Text tasks: default TEXT_VOCAB_SIZE and TEXT_MAX_LEN; a generated task's hold its words and longest text.
    vocab_size: int | None = Field(None, ge=VOCAB_SIZE_RANGE[0], le=VOCAB_SIZE_RANGE[1])
    max_len: int | None = Field(None, ge=MAX_LEN_RANGE[0], le=MAX_LEN_RANGE[1])
    # Generated tasks: how many examples (split 80/10/10), and the generator's settings (their
    # bounds are nas.tasks.generated's; how they relate, its settings classes check); filled at submission.
    examples: int | None = Field(None, ge=MIN_EXAMPLES, le=MAX_EXAMPLES)
    min_length: int | None = Field(None, ge=SETTING_BOUNDS["min_length"][0], le=SETTING_BOUNDS["min_length"][1])  # listops
    max_length: int | None = Field(None, ge=SETTING_BOUNDS["max_length"][0], le=SETTING_BOUNDS["max_length"][1])
    max_depth: int | None = Field(None, ge=SETTING_BOUNDS["max_depth"][0], le=SETTING_BOUNDS["max_depth"][1])
    max_args: int | None = Field(None, ge=SETTING_BOUNDS["max_args"][0], le=SETTING_BOUNDS["max_args"][1])
    pairs: int | None = Field(None, ge=SETTING_BOUNDS["pairs"][0], le=SETTING_BOUNDS["pairs"][1])  # recall
    queries: int | None = Field(None, ge=SETTING_BOUNDS["queries"][0], le=SETTING_BOUNDS["queries"][1])
    keys: int | None = Field(None, ge=SETTING_BOUNDS["keys"][0], le=SETTING_BOUNDS["keys"][1])

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a task name or a file such as {{csv: path, text_column: text, label_column: label}}, got {describe(data)}")
        return data

    @property
    def source(self) -> tuple[str, str] | None:
        """(kind, value): ("name", "digits"), ("csv", "/abs/reviews.csv"), ("generate", "listops"),
        ...; None if not exactly one."""
        given = [(key, value) for key in ("name", *FILE_FORMATS, "generate") if (value := getattr(self, key)) is not None]
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
            return builtin_kind(self.name) if self.name in BUILTIN_TASKS else "image"
        return "image" if self.npz is not None else "text"

    def to_load_spec(self) -> str | dict[str, Any]:
        """What `nas.tasks.data.load_task` takes (and the form the store keeps): a built-in task
        without settings stays its name, as specs have always stored it."""
        if self.name is not None and self.vocab_size is None and self.max_len is None:
            return self.name
        return self.model_dump(exclude_none=True)


GENERATOR_FIELDS = ("examples", *(p for g in GENERATORS.values() for p in g.parameters))  # TaskSpec's fields of generated tasks


class Constraints(_Strict):
    params_max: float | None = Field(None, gt=0, le=MAX_PARAMS)
    flops_max: float | None = Field(None, gt=0, le=MAX_FLOPS)
    latency_ms_max: float | None = Field(None, gt=0, le=MAX_LATENCY_MS)

    def limits(self) -> dict[str, float]:
        """{metric: upper limit} for the limits set (params_max -> params, ...)."""
        return {name.removesuffix("_max"): limit for name, limit in self.model_dump().items() if limit is not None}


class Budget(_Strict):
    candidates: int = Field(100, ge=1, le=1_000_000)
    max_minutes: float | None = Field(None, gt=0, le=MAX_MINUTES)
    # CPUs held times minutes, for every stage before the verified one (nas.search.compute).
    cpu_minutes: float | None = Field(None, gt=0, le=MAX_CPU_MINUTES)


# Subnets per supernet step when a spec does not say, by task kind. Image batches are split among
# four subnets (multi-architectural sampling pays at ViT batch sizes). A text supernet trains one
# subnet on the whole batch: slices of a text batch under-train the larger FlexiBERT subnets
# (docs/benchmarks/supernet.md).
DEFAULT_ARCHS_PER_STEP = {"image": 4, "text": 1}


DEFAULT_WARMUP_EPOCHS = 2
# Fine-tuning steps before a candidate is scored, by task kind: on ViT-ResNAS 20 steps raised the
# supernet score's Kendall tau against standalone training from -0.28 to +0.29 (digits) and from
# -0.20 to +0.41 (Fashion-MNIST), paired on the same references; on FlexiBERT it changed the tau by
# +0.02 at ~90 s per candidate, so none there (docs/benchmarks/results.md).
DEFAULT_SCORE_FINETUNE_STEPS = {"image": 20, "text": 0}
MIN_SCORE_EXAMPLES = 10
# Default supernet epochs: enough for this many optimizer steps, and at least MIN_EPOCHS. A
# supernet needs steps, not epochs: at five epochs digits' 1,439 examples give 60 steps and the
# supernet stays at chance; from ~150 steps on it learns (docs/benchmarks/supernet.md).
MIN_SUPERNET_STEPS, MIN_EPOCHS = 300, 5


def steps_per_epoch(train_examples: int, batch_size: int) -> int:
    """Optimizer steps of one epoch: its last batch may be short."""
    return -(-train_examples // batch_size)


def default_epochs(train_examples: int | None, batch_size: int, warmup_epochs: int | None = None, min_steps: int = MIN_SUPERNET_STEPS, min_epochs: int = MIN_EPOCHS) -> int:
    """Epochs of `min_steps` optimizer steps or more, at least `min_epochs` (and the curriculum's
    `warmup_epochs`); `min_epochs` when the size is unknown."""
    steps = steps_per_epoch(train_examples, batch_size) if train_examples else 0
    enough = -(-min_steps // steps) if steps else min_epochs
    return max(min_epochs, enough, warmup_epochs or 0)


# The verified stage's standalone trainings: by default as many steps as a supernet's, at least 3 epochs.
MIN_VERIFY_STEPS, MIN_VERIFY_EPOCHS = 300, 3
VERIFY_INITS = ("inherited", "scratch")


MAX_VERIFY_SEEDS = 10


class VerifySpec(_Strict):
    """The verified stage (nas.search.verification): after the search, `top_k` candidates spread
    along the front train standalone, as one Ray Tune trial each, from their inherited weights or
    from scratch; each keeps its best epoch on validation, whose test accuracy is reported.
    Beside them, `references` members of the space's plain family that meet the job's
    constraints train the same way, so that the job can say whether it beat them. `top_k: 0`
    skips the stage."""

    top_k: int = Field(3, ge=0, le=100)
    # Plain-family members trained beside the candidates (spread in size among those that meet
    # the constraints); 0: none, and no verdict.
    references: int = Field(3, ge=0, le=len(PLAIN_LEVELS))
    # Trainings of each verified candidate and reference, with seeds seed, seed + 1, ...: more
    # when the verdict's accuracies differ by less than their uncertainty.
    seeds: int = Field(1, ge=1, le=MAX_VERIFY_SEEDS)
    # Default: enough epochs for MIN_VERIFY_STEPS steps on the training split, at least MIN_VERIFY_EPOCHS.
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    init: Literal[VERIFY_INITS] = "inherited"  # type: ignore[valid-type]
    lr: float = Field(1e-3, gt=0, le=MAX_LR)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH_SIZE)
    # ASHA stops trials that trail the others at the same epoch (rungs at epochs/4, epochs/2, ...).
    early_stop: bool = True

    def resolved(self, train_examples: int | None) -> VerifySpec:
        if self.epochs is not None:
            return self
        return self.model_copy(update={"epochs": default_epochs(train_examples, self.batch_size, min_steps=MIN_VERIFY_STEPS, min_epochs=MIN_VERIFY_EPOCHS)})


class RungsSpec(_Strict):
    """Successive halving between the search and the verified stage: once every candidate has its
    inherited-weight score (rung 0), the best 1/`eta` of them by the job's objectives are
    fine-tuned `finetune_steps` steps from their inherited weights and scored again (rung 1); the
    best 1/`eta` of those train `train_epochs` epochs on the whole training split (rung 2). The
    verified stage picks from the highest rung, on its accuracy. A rung of 0 steps or epochs is
    skipped; each rung keeps at least `verify.top_k` candidates."""

    eta: int = Field(3, ge=2, le=100, description="Each rung keeps 1/eta of the candidates of the rung below.")
    finetune_steps: int = Field(50, ge=0, le=10_000, description="Rung 1: steps of 64 training examples from the inherited weights; 0 skips it.")
    train_epochs: int = Field(2, ge=0, le=MAX_EPOCHS, description="Rung 2: epochs on the whole training split from the inherited weights; 0 skips it.")
    lr: float = Field(1e-3, gt=0, le=MAX_LR, description="Learning rate of rung 2's training.")

    @model_validator(mode="after")
    def _some_rung(self) -> RungsSpec:
        if not self.finetune_steps and not self.train_epochs:
            raise ValueError("finetune_steps and train_epochs are both 0, so no rung is left; leave the section out instead")
        return self


class SupernetSpec(_Strict):
    """How the job's supernet trains. The one place its defaults live: `nas run`, `nas supernet
    train` and `TrainConfig.from_spec` all read them from here. Five depend on the task and are
    filled by `resolved` (at submission): epochs, archs_per_step, sandwich, warmup_epochs,
    score_finetune_steps."""

    # Default: enough epochs for MIN_SUPERNET_STEPS optimizer steps on the task's training split
    # (max_train counted), at least MIN_EPOCHS.
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    # Default DEFAULT_ARCHS_PER_STEP[task kind]; each subnet trains on its own slice of a batch.
    archs_per_step: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE)
    batch_size: int = Field(128, ge=1, le=MAX_BATCH_SIZE)
    mlm_epochs: int = Field(0, ge=0, le=MAX_EPOCHS)  # text tasks: masked-LM pretraining on the task's text first
    max_train: int | None = Field(None, ge=1, le=MAX_TRAIN_EXAMPLES)  # a deterministic training subset, for fast runs
    lr: float = Field(2e-3, gt=0, le=MAX_LR)
    # Every step also trains the largest and the smallest subnet; default: whenever a step
    # trains two or more subnets.
    sandwich: bool | None = None
    # Curriculum: choices widen from the largest over these epochs; default min(2, epochs).
    warmup_epochs: int | None = Field(None, ge=0, le=MAX_EPOCHS)
    # In-place distillation: the largest subnet of each step (sandwich rule) teaches the others.
    # Off: on digits it ranked worse than the plain supernet (docs/benchmarks/results.md, Remedies).
    distill: bool = False
    # Scoring: train each candidate this many steps of 64 examples from its inherited weights
    # before its validation accuracy is taken; default DEFAULT_SCORE_FINETUNE_STEPS[task kind].
    score_finetune_steps: int | None = Field(None, ge=0, le=10_000)
    # Scoring: the validation examples a candidate's accuracy is taken on, a seeded sample that
    # is the same for every candidate (fewer: cheaper scores, coarser: about ±1/sqrt(n)); default
    # the whole validation split.
    score_examples: int | None = Field(None, ge=MIN_SCORE_EXAMPLES, le=MAX_TRAIN_EXAMPLES)
    # The learned-or-not check after training (nas.training.health); false runs the search on
    # whatever the supernet learned, e.g. in a smoke test of the machinery, and lets a supernet
    # train fewer steps than it needs to learn (`step_problems`).
    check: bool = True
    # Data-parallel training with Ray Train: this many workers, each with `resources.supernet`,
    # each training its share of every step's subnets on their slices of the batch.
    workers: int = Field(1, ge=1, le=MAX_SUPERNET_WORKERS)

    def resolved(self, task_kind: str, train_examples: int | None = None) -> SupernetSpec:
        """These settings with every default filled for a task of `task_kind` (text | image)
        with `train_examples` training examples (None: unknown)."""
        # Every worker trains at least one subnet of each step.
        archs = self.archs_per_step or max(DEFAULT_ARCHS_PER_STEP[task_kind], self.workers)
        epochs = self.epochs or default_epochs(self.trained_examples(train_examples), self.batch_size, self.warmup_epochs)
        return self.model_copy(
            update={
                "epochs": epochs,
                "archs_per_step": archs,
                "sandwich": archs >= 2 if self.sandwich is None else self.sandwich,
                "warmup_epochs": min(DEFAULT_WARMUP_EPOCHS, epochs) if self.warmup_epochs is None else self.warmup_epochs,
                "score_finetune_steps": DEFAULT_SCORE_FINETUNE_STEPS[task_kind] if self.score_finetune_steps is None else self.score_finetune_steps,
            }
        )

    def trained_examples(self, train_examples: int | None) -> int | None:
        """The examples an epoch trains on: the task's `train_examples`, cut to max_train."""
        if self.max_train is not None and train_examples is not None:
            return min(train_examples, self.max_train)
        return train_examples

    def step_problems(self, train_examples: int | None) -> list[str]:
        """The resolved settings' supervised epochs, if they make fewer optimizer steps than a
        supernet needs to learn (MIN_SUPERNET_STEPS) on a task of `train_examples` (None:
        unknown, nothing to check): the health check after training would fail the job minutes
        later. Not with `check: false`: turning the check off says the supernet need not learn
        (a smoke test of the machinery), and nothing else stops a supernet of few steps."""
        examples = self.trained_examples(train_examples)
        if not self.check or not examples or self.epochs is None:
            return []
        per_epoch = steps_per_epoch(examples, self.batch_size)
        if self.epochs * per_epoch >= MIN_SUPERNET_STEPS:
            return []
        data = f"supernet.max_train's {examples:,} examples" if examples != train_examples else f"{examples:,} training examples"
        levers = f"ask for at least {-(-MIN_SUPERNET_STEPS // per_epoch)} epochs at this batch_size"
        per_epoch_needed = -(-MIN_SUPERNET_STEPS // self.epochs)
        if per_epoch_needed <= examples:  # else not even batches of one example make enough steps
            # The largest batch of which `examples` make `per_epoch_needed` steps or more.
            levers += f", or a supernet.batch_size of at most {(examples - 1) // (per_epoch_needed - 1)} at {self.epochs} epochs"
        epochs = f"{self.epochs} epoch makes" if self.epochs == 1 else f"{self.epochs} epochs make"
        message = (
            f"supernet.epochs: {epochs} {self.epochs * per_epoch} optimizer steps ({per_epoch} an epoch: {data} in batches of {self.batch_size}), "
            f"and a supernet needs {MIN_SUPERNET_STEPS} to learn: the health check after training would fail the job; {levers}; "
            "or set supernet.check: false to train it anyway, without the check"
        )
        return [message]

    def problems(self) -> list[str]:
        """Combinations that cannot train, as "supernet.field: message"."""
        out = []
        if self.archs_per_step is not None and self.archs_per_step > self.batch_size:
            out.append(f"supernet.archs_per_step: {self.archs_per_step} exceeds supernet.batch_size={self.batch_size} (each subnet trains on its own slice of a batch)")
        if self.workers > self.batch_size:
            out.append(f"supernet.workers: {self.workers} exceeds supernet.batch_size={self.batch_size} (each worker trains on its own slices of a batch)")
        if self.archs_per_step is not None and self.archs_per_step < self.workers:
            out.append(f"supernet.archs_per_step: {self.archs_per_step} is below supernet.workers={self.workers} (each worker trains its own subnets of every step)")
        if self.sandwich and self.archs_per_step is not None and self.archs_per_step < 2:
            out.append(f"supernet.sandwich: needs supernet.archs_per_step >= 2 (the largest and the smallest subnet), got {self.archs_per_step}")
        if self.distill and self.sandwich is False:
            out.append("supernet.distill: needs supernet.sandwich (the largest subnet of every step is the teacher)")
        if self.warmup_epochs is not None and self.epochs is not None and self.warmup_epochs > self.epochs:
            out.append(f"supernet.warmup_epochs: {self.warmup_epochs} exceeds supernet.epochs={self.epochs} (the curriculum runs inside the supervised epochs)")
        return out


MAX_LATENCY_THREADS = 256
MAX_LATENCY_SECONDS = 600.0


class LatencySpec(_Strict):
    """How `latency_ms` is measured, on the node of the evaluator that scores the candidate (pin
    evaluators to the kind of machine you deploy on with `resources.evaluator.custom`): the
    candidate's model exported to `runtime`, called on batches of `batch_size` with `threads`
    threads, after a warm-up, until its figure is known within `precision` or `max_seconds` of
    calls have run (nas.export.latency)."""

    runtime: Literal[LATENCY_RUNTIMES] = Field("onnxruntime", description="onnxruntime, torchscript or torch (eager PyTorch).")  # type: ignore[valid-type]
    batch_size: int = Field(1, ge=1, le=MAX_BATCH_SIZE, description="Examples per call.")
    threads: int = Field(1, ge=1, le=MAX_LATENCY_THREADS, description="The runtime's intra-op threads; at most resources.evaluator.cpus.")
    precision: float = Field(0.03, gt=0, lt=1, description="The figure's 95% interval must lie within this share of it on either side.")
    max_seconds: float = Field(10.0, gt=0, le=MAX_LATENCY_SECONDS, description="Of timed calls per candidate, when the precision is not reached sooner.")
    predict_after: int | None = Field(
        None, ge=MIN_LATENCY_CALIBRATION, le=1_000_000,
        description="Measure this many candidates, then predict the others' latency with a predictor calibrated on them (the front is measured at the end); null: measure every candidate.",
    )  # fmt: skip

    def describe(self) -> str:
        """'onnxruntime, batch 1, 1 thread': what a latency figure of the job means."""
        return f"{self.runtime}, batch {self.batch_size}, {self.threads} thread{'s' * (self.threads != 1)}"


RAY_BUILTIN_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")


class StageResources(_Strict):
    """What one Ray task or actor of a stage asks of the cluster; a GPU, when given one, is used."""

    cpus: float = Field(1.0, gt=0, le=1024, description="CPUs per task or actor; fractions share a CPU (e.g. 0.25: four evaluators per CPU).")
    gpus: float = Field(0.0, ge=0, le=64, description="GPUs per task or actor; fractions share a GPU.")
    custom: dict[str, float] = Field(
        default_factory=dict,
        description="Ray custom resources per task, e.g. {gpu_node: 1} to run the stage only on nodes started with `ray start --resources '{\"gpu_node\": 8}'`.",
    )

    @field_validator("custom")
    @classmethod
    def _custom_resources(cls, custom: dict[str, float]) -> dict[str, float]:
        for name, amount in custom.items():
            if not name or name in RAY_BUILTIN_RESOURCES or name.startswith("node:"):
                raise ValueError(f"{name!r} is not a custom resource name (CPUs and GPUs have their own fields: cpus, gpus)")
            if not 0 < amount <= MAX_CUSTOM_RESOURCE:
                raise ValueError(f"{name}: {amount} must be {bounds_text(gt=0, le=MAX_CUSTOM_RESOURCE)}")
        return custom


class ResourcesSpec(_Strict):
    """Per stage: the supernet's training task, each evaluator actor, each verified-stage trial."""

    supernet: StageResources = StageResources()
    evaluator: StageResources = StageResources()
    verify: StageResources = StageResources()


class JobSpec(_Strict):
    """A validated job. Build it with `parse_spec` / `load_spec`: this model's own validation is
    structural only; the checks across fields, and the filled defaults, come from `parse_spec`."""

    name: str = Field(min_length=1, max_length=200)
    space: str
    preset: str | None = None  # parse_spec fills the space's default (nas-bench-bert in benchmark mode)
    task: TaskSpec
    objectives: list[ObjectiveSpec] = Field(default_factory=lambda: [ObjectiveSpec(metric="accuracy")], min_length=1, max_length=len(METRICS))
    constraints: Constraints = Constraints()
    strategy: Literal[STRATEGY_NAMES] = "boshnas"  # type: ignore[valid-type]
    budget: Budget = Budget()
    supernet: SupernetSpec | None = None  # parse_spec fills the defaults, except in benchmark mode
    verify: VerifySpec | None = None  # parse_spec fills the defaults, except in benchmark mode
    latency: LatencySpec | None = None  # parse_spec fills the defaults, except in benchmark mode
    rungs: RungsSpec | None = None  # none unless given: the verified stage picks on inherited scores
    workers: int = Field(1, ge=1, le=MAX_WORKERS)  # evaluator actors, as many as `resources.evaluator` lets the cluster hold
    resources: ResourcesSpec = ResourcesSpec()
    seed: int = Field(0, ge=0, le=2**32 - 1)  # what every RNG the search seeds accepts

    @field_validator("name")
    @classmethod
    def _printable_name(cls, name: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise ValueError("must not contain control characters (newlines, tabs, NUL, ...)")
        return name

    @property
    def is_benchmark(self) -> bool:
        return self.task.is_benchmark

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-ready form, as stored: defaults filled, unset options left out."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["task"] = self.task.to_load_spec()
        return data

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> JobSpec:
        """The spec back from its stored form (`to_dict`), checking structure only: the checks
        across fields (files, costs, defaults) ran once, when the job was submitted."""
        return cls.model_validate(data)

    @property
    def supernet_settings(self) -> SupernetSpec:
        """The resolved supernet settings of a trained job (benchmark jobs have none)."""
        if self.supernet is None:
            raise ValueError(f"job {self.name!r} runs in benchmark mode: it trains no supernet")
        return self.supernet

    def search_space(self) -> SearchSpace:
        return get_space(self.space, self.preset)

    def surrogate_objectives(self) -> list[Objective]:
        """The objectives as strategies take them; the first is primary."""
        return [Objective(o.metric, o.maximize) for o in self.objectives]

    def pareto_objectives(self) -> list[tuple[str, bool]]:
        """(metric, maximize) pairs, as `nas.results.front` takes them."""
        return [(o.metric, o.maximize) for o in self.objectives]
