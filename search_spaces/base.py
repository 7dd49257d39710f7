"""The contract every search space implements, and the types shared by all spaces.

A space is a set of architectures (`Architecture` subclasses) bounded by a preset's choices.
Architectures are immutable values: two encodings of the same network parse to equal objects
with the same canonical JSON and therefore the same id.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import json
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:  # torch loads only when a model is built: the CLI's space commands stay fast
    import networkx as nx
    from torch import nn

    from search_spaces.supernet import Supernet
    from search_spaces.tally import CostTally

from search_spaces.validation import ArchValidationError, Problem, format_choices


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace: the one string every equivalent encoding maps to."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class Architecture(ABC):
    """Base of every space's architecture type (subclasses are frozen dataclasses)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-ready form: every field present, equivalent encodings identical."""

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @cached_property
    def arch_id(self) -> str:
        """Stable id: the first 16 hex digits of the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TextTaskShape:
    """What a text model needs to know about its task to be built and costed."""

    vocab_size: int = 30522
    max_len: int = 128
    num_classes: int = 2


@dataclass(frozen=True)
class ImageTaskShape:
    """What an image model needs to know about its task to be built and costed."""

    channels: int = 3
    image_size: int = 224
    num_classes: int = 1000


TaskShape = TextTaskShape | ImageTaskShape


@dataclass(frozen=True)
class Cost:
    """Analytic cost of one forward pass of one example.

    FLOPs count multiply-adds as 2 FLOPs for every matrix product and convolution (linear
    layers, attention scores and mixing, fixed transforms, convolutions); elementwise work
    (norms, activations, softmax, additions) is not counted, matching
    `torch.utils.flop_counter.FlopCounterMode`.
    """

    params: int
    flops: int

    def to_dict(self) -> dict[str, int]:
        return {"params": self.params, "flops": self.flops}


A = TypeVar("A", bound=Architecture)
C = TypeVar("C")


# The plain family's members, from the smallest choices to the largest at even steps between.
PLAIN_LEVELS: tuple[tuple[str, float], ...] = (("plain-XS", 0.0), ("plain-S", 0.25), ("plain-M", 0.5), ("plain-L", 0.75), ("plain-XL", 1.0))


@dataclass(frozen=True)
class PlainModel:
    """A member of a space's plain (homogeneous) family: what a user would pick without a search."""

    name: str
    arch: Architecture


def named_by_size(archs: list[Any]) -> list[PlainModel]:
    """Architectures ordered by size as a plain family: at most len(PLAIN_LEVELS) of them spread
    from the smallest to the largest, named so that the smallest is plain-XS and the largest
    plain-XL (fewer members skip names between)."""
    count = min(len(archs), len(PLAIN_LEVELS))
    if count == 0:
        return []
    picked = sorted({round(j * (len(archs) - 1) / (count - 1)) for j in range(count)}) if count > 1 else [0]
    names = [PLAIN_LEVELS[round(j * (len(PLAIN_LEVELS) - 1) / (count - 1))][0] for j in range(count)] if count > 1 else [PLAIN_LEVELS[0][0]]
    return [PlainModel(name, archs[i]) for name, i in zip(names, picked, strict=True)]


def at_level(values: tuple[int, ...], level: float) -> int:
    """The value at relative `level` (0 the smallest, 1 the largest) of a set of choices."""
    ordered = sorted(values)
    return ordered[round(level * (len(ordered) - 1))]


class SearchSpace(ABC, Generic[A, C]):
    """A configured space: a name, a preset's choices `C` (possibly overridden) and its operations."""

    name: ClassVar[str]
    presets: ClassVar[dict[str, Any]]
    default_preset: ClassVar[str]

    def __init__(self, preset: str | None = None, overrides: dict[str, Any] | None = None):
        preset = preset or self.default_preset
        if preset not in self.presets:
            raise ValueError(f"preset: {preset!r} not in {format_choices(self.presets)} for space {self.name!r}")
        self.preset = preset
        self.choices: C = apply_overrides(self.presets[preset], overrides or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(preset={self.preset!r})"

    # ---- parsing ----
    @abstractmethod
    def validate(self, data: Any) -> A:
        """Parse `data` (decoded JSON) into an architecture of this configured space.

        Raises ArchValidationError listing every problem with its field path and allowed values.
        """

    def check(self, arch: A) -> A:
        """Return `arch` if it belongs to this configured space, else raise ArchValidationError."""
        return self.validate(arch.to_dict())

    def contains(self, arch: A) -> bool:
        try:
            self.check(arch)
        except ArchValidationError:
            return False
        return True

    def from_json(self, text: str) -> A:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchValidationError([Problem("", f"not valid JSON: {exc}")]) from None
        return self.validate(data)

    # ---- search operators (all return architectures of this configured space) ----
    @abstractmethod
    def sample(self, rng: random.Random) -> A: ...

    @abstractmethod
    def mutate(self, arch: A, rng: random.Random) -> A:
        """A neighbour of `arch` that differs from it in exactly one choice."""

    @abstractmethod
    def crossover(self, a: A, b: A, rng: random.Random) -> A:
        """A child whose choices each come from `a` or `b`."""

    # ---- what an architecture is ----
    @abstractmethod
    def to_graph(self, arch: A) -> nx.DiGraph:
        """Computation graph; every node carries an `op` label used for hashing and distances."""

    @abstractmethod
    def features(self, arch: A) -> dict[str, float]:
        """A few numbers that summarise `arch`'s choices (depth, widths, operation mix), the same
        names for every architecture of the space: the axes the dashboard plots them on."""

    @abstractmethod
    def build(self, arch: A, task: TaskShape | None = None) -> nn.Module:
        """A freshly initialised standalone model for `arch` on `task`."""

    @abstractmethod
    def tally(self, arch: A, task: TaskShape | None = None) -> CostTally:
        """The analytic cost piece by piece: totals, and operators, FLOPs and outputs by kind."""

    def cost(self, arch: A, task: TaskShape | None = None) -> Cost:
        return self.tally(arch, task).result()

    @abstractmethod
    def supernet(self, task: TaskShape | None = None) -> Supernet:
        """A freshly initialised weight-sharing supernet holding every architecture of this space."""

    # ---- sub-spaces (sandwich rule, warm-up curriculum) ----
    @abstractmethod
    def narrowed_choices(self, keep: float, largest: bool) -> C:
        """Choices with each ordered decision cut to its largest (or smallest) `keep` fraction,
        at least one value each; unordered decisions (operation types) are kept whole."""

    def narrowed(self, keep: float, largest: bool = True) -> SearchSpace[A, C]:
        """This space cut to its largest (or smallest) choices; see `narrowed_choices`."""
        if not 0 <= keep <= 1:
            raise ValueError(f"keep: {keep} must be within [0, 1]")
        sub = copy.copy(self)
        sub.choices = self.narrowed_choices(keep, largest)
        sub.__dict__.pop("width_vectors", None)  # cached views of the old choices
        return sub

    def extreme(self, rng: random.Random, largest: bool = True) -> A:
        """A largest (or smallest) architecture; unordered decisions are drawn from `rng`."""
        return self.narrowed(0.0, largest).sample(rng)

    @abstractmethod
    def plain_family(self) -> list[PlainModel]:
        """The scaled family of homogeneous models of this space (`PLAIN_LEVELS`, smallest first,
        repeats dropped): the references a search must beat at equal accuracy."""

    @abstractmethod
    def default_task(self) -> TaskShape:
        """The input shape the preset was designed for (used when no task is given)."""

    @abstractmethod
    def size(self) -> int:
        """Exact number of distinct architectures in this configured space."""

    def describe(self) -> dict[str, Any]:
        """The choices of this configured space and its exact size, JSON-ready."""
        return {
            "space": self.name,
            "preset": self.preset,
            "choices": _jsonable(dataclasses.asdict(self.choices)),
            "default_task": dataclasses.asdict(self.default_task()),
            "size": self.size(),
        }


def apply_overrides(choices: C, overrides: dict[str, Any]) -> C:
    """Replace fields of a preset's choices; unknown or mistyped fields are rejected by name."""
    fields = {f.name: f for f in dataclasses.fields(choices)}
    problems: list[Problem] = []
    converted: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in fields:
            problems.append(Problem(key, f"unknown choice; allowed: {format_choices(fields)}"))
            continue
        current = getattr(choices, key)
        if isinstance(current, tuple):
            if not isinstance(value, (list, tuple)) or not value:
                problems.append(Problem(key, f"expected a non-empty list, got {value!r}"))
                continue
            value = tuple(value)
        converted[key] = value
    if problems:
        raise ArchValidationError(problems)
    try:
        return dataclasses.replace(choices, **converted)
    except (TypeError, ValueError) as exc:
        raise ArchValidationError([Problem("overrides", str(exc))]) from None


def top_values(values: tuple[int, ...], keep: float, largest: bool) -> tuple[int, ...]:
    """The largest (or smallest) ceil(keep * n) of sorted `values`, at least one."""
    count = max(1, math.ceil(keep * len(values)))
    ordered = sorted(values)
    return tuple(ordered[-count:] if largest else ordered[:count])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
