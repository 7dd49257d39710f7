"""Generated text tasks where the architecture matters: each a list of (text, label) examples,
deterministic by seed, written here from the recipes in the literature.

- **ListOps** (Nangia & Bowman 2018, as the Long Range Arena uses it, Tay et al. 2021): nested
  expressions of MIN, MAX, MED (median) and SM (sum modulo 10) over digits, e.g.
  `[MAX 2 9 [MIN 4 7 ] 0 ]` → 9. The answer depends on tokens far apart and on the nesting, so
  models that mix tokens only locally score near the majority class.
- **Associative recall** (after the multi-query recall of Arora et al., "Zoology", 2023):
  key-value pairs, then one or more of the keys again, e.g. `k3v7 k1v2 k8v5 ? k1` → 2. Recalling
  a value means matching a query against the pairs anywhere before it: attention does this in one
  layer, convolutions and fixed linear transforms need depth or width to. Each pair is one word
  here, where Zoology writes a key and its value as two tokens: a classifier that pools its tokens'
  mean must then also carry each value onto its key, and plain-XS did not learn that form in 3,000
  steps on a CPU (25%, the level of guessing among the values present), while it learned the
  one-word form to 99% in 800 (docs/benchmarks/end_to_end.md). A classifier answers with one label:
  the queried value, or with several queries the sum of their values modulo 10, which needs every
  query recalled.

Tokens are separated by spaces, so the service's tokenizer keeps each one whole (BERT's
pre-tokenizer splits the bracket off an operator: `[MAX` is the two words `[` and `max`).

A job names one as `task: {generate: listops, ...}`: `generated_task` reads such a spec, and
`GeneratedTask` knows the longest text and the words a vocabulary must hold, so the tokenizer's
settings are known at submission without generating anything.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LISTOPS_OPERATORS = ("MIN", "MAX", "MED", "SM")
LISTOPS_CLASSES = [str(d) for d in range(10)]
# Each setting's own range (a job spec's fields carry these bounds too); how settings relate to
# each other (min_length <= max_length, queries <= pairs <= keys) the settings check themselves.
# Lengths end where a task's max_len does (nas.tasks.catalog); 5,000 recall keys make 55,001 words
# (a word per key and value, one per key alone, and `?`), within the largest vocabulary a task may have.
SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "min_length": (8, 4096), "max_length": (8, 4096), "max_depth": (1, 20), "max_args": (2, 10),
    "pairs": (1, 10_000), "queries": (1, 10_000), "keys": (1, 5_000),
}  # fmt: skip


def _check_bounds(settings: object) -> None:
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        low, high = SETTING_BOUNDS[field.name]
        if not low <= (value := getattr(settings, field.name)) <= high:
            raise ValueError(f"{field.name}: {value} must be >= {low:,} and <= {high:,}")


@dataclass(frozen=True)
class ListOpsSettings:
    min_length: int = 32  # tokens, brackets included; the Long Range Arena uses 500 to 2,000
    max_length: int = 128
    max_depth: int = 6
    max_args: int = 5

    def __post_init__(self) -> None:
        _check_bounds(self)
        if self.min_length > self.max_length:
            raise ValueError(f"min_length: {self.min_length} must be <= max_length ({self.max_length})")


def evaluate_listops(tokens: Sequence[str]) -> int:
    """The value of a ListOps expression given as tokens (`[MAX`, digits, `]`), by a stack."""
    stack: list[tuple[str, list[int]]] = []
    result: int | None = None
    for token in tokens:
        if token.startswith("["):
            stack.append((token[1:], []))
        elif token == "]":
            operator, args = stack.pop()
            value = _apply(operator, args)
            if stack:
                stack[-1][1].append(value)
            else:
                result = value
        elif stack:
            stack[-1][1].append(int(token))
        else:
            result = int(token)
    if stack or result is None:
        raise ValueError(f"tokens: not one complete expression ({' '.join(tokens)[:80]})")
    return result


def _apply(operator: str, args: list[int]) -> int:
    if operator == "MIN":
        return min(args)
    if operator == "MAX":
        return max(args)
    if operator == "MED":
        ordered = sorted(args)
        return ordered[(len(ordered) - 1) // 2]  # the lower median: digits stay digits
    if operator == "SM":
        return sum(args) % 10
    raise ValueError(f"operator: {operator!r} not one of {', '.join(LISTOPS_OPERATORS)}")


def listops(count: int, seed: int, settings: ListOpsSettings | None = None) -> tuple[list[str], list[int]]:
    """`count` expressions (as space-separated text) with lengths in the settings' range, and
    their values. Expressions are drawn until one falls in the range, so lengths spread over it."""
    settings = settings or ListOpsSettings()
    rng = random.Random(f"listops:{seed}")
    texts, labels = [], []
    while len(texts) < count:
        target = rng.randint(settings.min_length, settings.max_length)
        tokens = _expression(rng, settings, depth=0, budget=target)
        # Expressions fall short of their budget; keeping those near it spreads lengths over the range.
        if not (settings.min_length <= len(tokens) <= settings.max_length and len(tokens) >= 0.75 * target):
            continue
        texts.append(" ".join(tokens))
        labels.append(evaluate_listops(tokens))
    return texts, labels


def _expression(rng: random.Random, settings: ListOpsSettings, depth: int, budget: int) -> list[str]:
    """One operator applied to 2..max_args arguments, each a digit or (below max_depth, while the
    token budget lasts) a nested expression."""
    operator = rng.choice(LISTOPS_OPERATORS)
    tokens = [f"[{operator}"]
    args = rng.randint(2, settings.max_args)
    left = budget - 2 - args  # the brackets, and a digit per argument at least
    for _ in range(args):
        if depth + 1 < settings.max_depth and left > 6 and rng.random() < 0.6:
            share = rng.randint(4, max(4, min(left, budget // 2)))
            nested = _expression(rng, settings, depth + 1, share)
            left -= len(nested) - 1
            tokens += nested
        else:
            tokens.append(str(rng.randint(0, 9)))
    tokens.append("]")
    return tokens


@dataclass(frozen=True)
class RecallSettings:
    pairs: int = 16  # key-value pairs before the queries, a word each (`k12v7`)
    queries: int = 1
    keys: int = 32  # distinct keys to draw from (k0 … k31); values are digits

    def __post_init__(self) -> None:
        _check_bounds(self)
        if self.queries > self.pairs:
            raise ValueError(f"queries: {self.queries} must be <= pairs ({self.pairs})")
        if self.keys < self.pairs:
            raise ValueError(f"keys: {self.keys} must be >= pairs ({self.pairs}): the keys of a text are distinct")


RECALL_CLASSES = [str(d) for d in range(10)]


def associative_recall(count: int, seed: int, settings: RecallSettings | None = None) -> tuple[list[str], list[int]]:
    """`count` sequences `k3v7 k1v2 … ? k1` (distinct keys in a sequence; queried keys drawn
    from them, in any order) and the sum of the queried values modulo 10."""
    settings = settings or RecallSettings()
    rng = random.Random(f"recall:{seed}")
    texts, labels = [], []
    for _ in range(count):
        keys = rng.sample(range(settings.keys), settings.pairs)
        values = {key: rng.randint(0, 9) for key in keys}
        asked = rng.sample(keys, settings.queries)
        tokens = [f"k{key}v{values[key]}" for key in keys] + ["?"] + [f"k{key}" for key in asked]
        texts.append(" ".join(tokens))
        labels.append(sum(values[key] for key in asked) % 10)
    return texts, labels


# ---- as a job's task ----

Settings = ListOpsSettings | RecallSettings


@dataclass(frozen=True)
class Generator:
    settings: type[ListOpsSettings | RecallSettings]  # its fields are the spec's parameters
    make: Callable[[int, int, Any], tuple[list[str], list[int]]]  # (count, seed, settings)
    classes: list[str]
    tokens: Callable[[Any], list[str]]  # every distinct token its texts can hold
    longest: Callable[[Any], int]  # the most words a text holds, as the service's tokenizer splits it
    length_field: str  # the setting that bounds `longest`

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(self.settings))


def _listops_longest(settings: ListOpsSettings) -> int:
    # A word more per operator (`[MAX` is `[` and `max`). An operator takes 2+ arguments, so a text
    # of n operators holds n + 1 digits or more, 3n + 1 tokens with the brackets: n <= (length - 1) / 3.
    return settings.max_length + (settings.max_length - 1) // 3


GENERATORS: dict[str, Generator] = {
    "listops": Generator(
        ListOpsSettings, listops, LISTOPS_CLASSES,
        tokens=lambda _: [*(f"[{op}" for op in LISTOPS_OPERATORS), "]", *LISTOPS_CLASSES],
        longest=_listops_longest, length_field="max_length",
    ),
    "recall": Generator(
        RecallSettings, associative_recall, RECALL_CLASSES,
        tokens=lambda s: [*(f"k{key}v{d}" for key in range(s.keys) for d in range(10)), *(f"k{key}" for key in range(s.keys)), "?"],
        longest=lambda s: s.pairs + 1 + s.queries, length_field="pairs",
    ),
}  # fmt: skip
# 10,000 examples, 8,000 of them to train on: as many as rotten-tomatoes' 10,248, whose FlexiBERT
# supernet trains an epoch in minutes on two CPU cores; ListOps texts are longer (up to 172 words
# at the default lengths, against 64), so its epochs take a few times that.
DEFAULT_EXAMPLES = 10_000
MIN_EXAMPLES, MAX_EXAMPLES = 100, 1_000_000  # every class in every split; ListOps generates ~4,000 a second


@dataclass(frozen=True)
class GeneratedTask:
    """A generated task with every setting filled: what `task: {generate: ...}` loads."""

    name: str
    settings: Settings
    examples: int = DEFAULT_EXAMPLES

    @property
    def generator(self) -> Generator:
        return GENERATORS[self.name]

    def generate(self, seed: int) -> tuple[list[str], list[int]]:
        return self.generator.make(self.examples, seed, self.settings)

    def tokens(self) -> list[str]:
        return self.generator.tokens(self.settings)

    def longest(self) -> int:
        return self.generator.longest(self.settings)

    def to_spec(self) -> dict[str, Any]:
        """The spec fields that load this task again, every default written out."""
        return {"generate": self.name, "examples": self.examples, **dataclasses.asdict(self.settings)}


def generated_task(spec: Mapping[str, Any]) -> GeneratedTask:
    """The task of a spec `{generate: NAME, examples: N, <NAME's settings>}` (None or absent: the
    default). ValueError "field: message" for an unknown generator, another generator's setting or
    a value its settings refuse."""
    name = spec.get("generate")
    if name not in GENERATORS:
        raise ValueError(f"generate: {name!r} not in {{{', '.join(GENERATORS)}}}")
    generator = GENERATORS[name]
    for other in sorted({p for g in GENERATORS.values() for p in g.parameters} - set(generator.parameters)):
        if spec.get(other) is not None:
            raise ValueError(f"{other}: {name} has no {other}; its settings are {', '.join(generator.parameters)}")
    examples = spec.get("examples")
    examples = DEFAULT_EXAMPLES if examples is None else examples
    if not MIN_EXAMPLES <= examples <= MAX_EXAMPLES:
        raise ValueError(f"examples: {examples} must be >= {MIN_EXAMPLES:,} and <= {MAX_EXAMPLES:,}")
    settings = generator.settings(**{p: spec[p] for p in generator.parameters if spec.get(p) is not None})
    return GeneratedTask(name, settings, examples)
