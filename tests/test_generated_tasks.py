"""The generated tasks (ListOps, multi-query associative recall): deterministic by seed, lengths in
range, and every label what an independent reading of the text gives."""

from __future__ import annotations

import collections
import re
import statistics

import pytest

from nas.tasks.generated import ListOpsSettings, RecallSettings, associative_recall, evaluate_listops, listops


def python_value(text: str) -> int:
    """The expression rewritten as Python calls and evaluated: another reading than the stack's."""
    functions = {"MIN": min, "MAX": max, "MED": lambda *a: sorted(a)[(len(a) - 1) // 2], "SM": lambda *a: sum(a) % 10}
    code = re.sub(r"\[(MIN|MAX|MED|SM)", r"\1(", text).replace(" ]", ")")
    code = re.sub(r"(\d|\)) (?=\d|MIN|MAX|MED|SM)", r"\1, ", code)
    return eval(code, {"__builtins__": {}}, functions)  # our own generated digits and names only


def test_listops_labels_lengths_and_seeds():
    settings = ListOpsSettings(min_length=32, max_length=128)
    texts, labels = listops(600, seed=3, settings=settings)
    assert (texts, labels) == listops(600, seed=3, settings=settings)  # the same seed, the same task
    assert texts != listops(600, seed=4, settings=settings)[0]
    lengths = [len(text.split()) for text in texts]
    assert min(lengths) >= 32 and max(lengths) <= 128 and statistics.median(lengths) > 45  # spread over the range, not all short
    assert all(python_value(text) == label for text, label in zip(texts, labels))
    assert all(op in " ".join(texts) for op in ("[MIN", "[MAX", "[MED", "[SM"))
    assert max(collections.Counter(labels).values()) / len(labels) < 0.25  # no class gives the answer away
    assert max(text.count("[") for text in texts) >= 4  # nested


def test_a_listops_expression_is_read_whole():
    def value(text: str) -> int:
        return evaluate_listops(text.split())

    assert value("[MAX 2 9 [MIN 4 7 ] 0 ]") == 9
    assert value("[MED 5 1 8 2 ]") == 2 and value("[SM 9 8 7 ]") == 4
    with pytest.raises(ValueError, match="not one complete expression"):
        value("[MAX 2 9")


def test_recall_labels_need_every_query():
    texts, labels = associative_recall(500, seed=0, settings=RecallSettings(pairs=12, queries=3, keys=40))
    assert (texts, labels) == associative_recall(500, seed=0, settings=RecallSettings(pairs=12, queries=3, keys=40))
    for text, label in zip(texts, labels):
        pairs, asked = text.split(" ? ")
        tokens = pairs.split()
        values = dict(zip(tokens[::2], (int(v[1:]) for v in tokens[1::2])))
        assert len(values) == 12 and len(asked.split()) == 3 and set(asked.split()) <= set(values)
        assert label == sum(values[key] for key in asked.split()) % 10
    assert max(collections.Counter(labels).values()) / len(labels) < 0.2


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ListOpsSettings(min_length=4), "min_length"), (lambda: ListOpsSettings(min_length=200, max_length=100), "min_length"),
        (lambda: ListOpsSettings(max_depth=0), "max_depth"), (lambda: ListOpsSettings(max_args=1), "max_args"),
        (lambda: RecallSettings(queries=20, pairs=8), "queries"), (lambda: RecallSettings(pairs=30, keys=20), "keys"),
    ],
)  # fmt: skip
def test_settings_that_cannot_work_are_refused(make, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        make()
