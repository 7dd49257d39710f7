"""Generated text tasks where the architecture matters: each a list of (text, label) examples,
deterministic by seed, written here from the recipes in the literature.

- **ListOps** (Nangia & Bowman 2018, as the Long Range Arena uses it, Tay et al. 2021): nested
  expressions of MIN, MAX, MED (median) and SM (sum modulo 10) over digits, e.g.
  `[MAX 2 9 [MIN 4 7 ] 0 ]` → 9. The answer depends on tokens far apart and on the nesting, so
  models that mix tokens only locally score near the majority class.
- **Multi-query associative recall** (Arora et al., "Zoology", 2023): key-value pairs, then
  queries of some of the keys, e.g. `k3 v7 k1 v2 k8 v5 ? k1 k8` → (2 + 5) mod 10 = 7. Recalling a
  value means matching a query against a key anywhere before it: attention does this in one
  layer, convolutions and fixed linear transforms need depth or width to. The original task asks
  for each query's value at its position; a classifier asks for one label, so the label here is the
  sum of the queried values modulo 10, which needs every query recalled.

Tokens are separated by spaces, so the service's word-level tokenizer keeps each one whole.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

LISTOPS_OPERATORS = ("MIN", "MAX", "MED", "SM")
LISTOPS_CLASSES = [str(d) for d in range(10)]


@dataclass(frozen=True)
class ListOpsSettings:
    min_length: int = 32  # tokens, brackets included; the Long Range Arena uses 500 to 2,000
    max_length: int = 128
    max_depth: int = 6
    max_args: int = 5

    def __post_init__(self) -> None:
        if not 8 <= self.min_length <= self.max_length:
            raise ValueError(f"min_length: {self.min_length} must be >= 8 and <= max_length ({self.max_length})")
        if not 1 <= self.max_depth <= 20:
            raise ValueError(f"max_depth: {self.max_depth} must be between 1 and 20")
        if not 2 <= self.max_args <= 10:
            raise ValueError(f"max_args: {self.max_args} must be between 2 and 10")


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
    pairs: int = 16  # key-value pairs before the queries
    queries: int = 4
    keys: int = 64  # distinct keys to draw from (k0 … k63); values are digits (v0 … v9)

    def __post_init__(self) -> None:
        if not 1 <= self.queries <= self.pairs:
            raise ValueError(f"queries: {self.queries} must be between 1 and pairs ({self.pairs})")
        if not self.pairs <= self.keys <= 10_000:
            raise ValueError(f"keys: {self.keys} must be at least pairs ({self.pairs}) and at most 10,000")


RECALL_CLASSES = [str(d) for d in range(10)]


def associative_recall(count: int, seed: int, settings: RecallSettings | None = None) -> tuple[list[str], list[int]]:
    """`count` sequences `k.. v.. … ? k.. k..` (distinct keys in a sequence; queried keys drawn
    from them, in any order) and the sum of the queried values modulo 10."""
    settings = settings or RecallSettings()
    rng = random.Random(f"recall:{seed}")
    texts, labels = [], []
    for _ in range(count):
        keys = rng.sample(range(settings.keys), settings.pairs)
        values = {key: rng.randint(0, 9) for key in keys}
        asked = rng.sample(keys, settings.queries)
        tokens = [token for key in keys for token in (f"k{key}", f"v{values[key]}")] + ["?"] + [f"k{key}" for key in asked]
        texts.append(" ".join(tokens))
        labels.append(sum(values[key] for key in asked) % 10)
    return texts, labels
