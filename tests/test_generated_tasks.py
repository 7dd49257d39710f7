"""The generated tasks (ListOps, associative recall): deterministic by seed, lengths in
range, and every label what an independent reading of the text gives."""

from __future__ import annotations

import collections
import re
import statistics

import pytest

from nas.tasks.catalog import TEXT_VOCAB_SIZE, TextSettings, text_settings
from nas.tasks.generated import (
    DEFAULT_EXAMPLES,
    GeneratedTask,
    ListOpsSettings,
    RecallSettings,
    associative_recall,
    evaluate_listops,
    generated_task,
    listops,
)
from nas.tasks.tokenizer import _normalized_words, train_wordpiece


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


@pytest.mark.parametrize("queries", [1, 3])
def test_recall_labels_need_every_query(queries):
    texts, labels = associative_recall(500, seed=0, settings=RecallSettings(pairs=12, queries=queries, keys=40))
    assert (texts, labels) == associative_recall(500, seed=0, settings=RecallSettings(pairs=12, queries=queries, keys=40))
    for text, label in zip(texts, labels):
        pairs, asked = text.split(" ? ")
        values = {key: int(value) for key, value in (re.fullmatch(r"(k\d+)v(\d)", word).groups() for word in pairs.split())}
        assert len(values) == 12 and len(asked.split()) == queries and set(asked.split()) <= set(values)
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


# ---- as a job's task: settings, and what the tokenizer makes of the texts ----


def test_a_generated_task_spec_fills_its_defaults_and_names_a_bad_setting():
    task = generated_task({"generate": "recall", "pairs": 8})
    assert task == GeneratedTask("recall", RecallSettings(pairs=8), DEFAULT_EXAMPLES)
    assert task.to_spec() == {"generate": "recall", "examples": DEFAULT_EXAMPLES, "pairs": 8, "queries": 1, "keys": 32}
    assert generated_task(task.to_spec()) == task  # the filled form loads the same task
    for spec, message in [
        ({"generate": "sort"}, "generate: 'sort' not in {listops, recall}"),
        ({"generate": "recall", "max_depth": 3}, "max_depth: recall has no max_depth; its settings are pairs, queries, keys"),
        ({"generate": "listops", "examples": 10}, "examples: 10 must be >= 100 and <= 1,000,000"),
        ({"generate": "listops", "max_length": 5}, "max_length: 5 must be >= 8 and <= 4,096"),
        ({"generate": "listops", "max_length": 20}, "min_length: 32 must be <= max_length (20)"),
    ]:
        with pytest.raises(ValueError) as info:
            generated_task(spec)
        assert str(info.value) == message


@pytest.mark.parametrize(
    "spec",
    [{"generate": "listops", "examples": 400, "min_length": 24, "max_length": 48}, {"generate": "recall", "examples": 400, "pairs": 20, "queries": 6, "keys": 300}],
    ids=["listops", "recall"],
)
def test_the_tokenizer_settings_hold_every_word_and_the_longest_text(spec):
    """`longest` and `tokens` against what the service's tokenizer makes of generated texts: the
    default max_len is reached by no text beyond it, and the default vocabulary keeps every word whole."""
    task = generated_task(spec)
    texts, _ = task.generate(seed=0)
    settings = text_settings(spec)
    tokenizer = train_wordpiece(texts, settings.vocab_size, settings.max_len)
    words = _normalized_words(texts)
    assert set(words) <= set(_normalized_words(task.tokens()))
    assert all(tokenizer.token_to_id(word) is not None for word in words)  # each word one token
    assert tokenizer.get_vocab_size() <= settings.vocab_needed <= settings.vocab_size
    longest = max(len(encoding.tokens) - encoding.tokens.count("[PAD]") for encoding in tokenizer.encode_batch(texts))
    assert longest <= settings.max_len == task.longest() + 2 and not any(e.overflowing for e in tokenizer.encode_batch(texts))
    assert longest >= 0.85 * settings.max_len  # the bound is near what texts reach, not far above it


def test_tokenizer_settings_of_a_generated_task_that_would_cut_or_split_texts_are_refused():
    assert text_settings({"generate": "listops"}) == TextSettings(vocab_size=TEXT_VOCAB_SIZE, max_len=128 + 42 + 2, vocab_needed=33)
    assert text_settings({"generate": "recall", "keys": 5_000}).vocab_size > TEXT_VOCAB_SIZE  # room for every key and value
    for spec, start in [
        ({"generate": "listops", "max_len": 100}, "max_len: 100 would cut texts of listops"),
        ({"generate": "recall", "keys": 2000, "vocab_size": 1000}, "vocab_size: 1,000 may split words of recall"),
        ({"generate": "listops", "max_length": 4000, "min_length": 8}, "max_length: listops (min_length 8, max_length 4,000"),
    ]:
        with pytest.raises(ValueError, match=f"^{re.escape(start)}"):
            text_settings(spec)
