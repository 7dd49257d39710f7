"""The built-in tasks by name, with their input shapes, and the text settings every text task is
tokenised with. Light on purpose: the job spec checks names and costs shapes without loading data
(which imports torch); `nas.tasks.data` loads exactly these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nas.tasks.generated import GENERATORS, generated_task
from nas.tasks.tokenizer import ADDED_TOKENS, whole_word_vocab_size
from search_spaces import ImageTaskShape, TaskShape, TextTaskShape

TEXT_VOCAB_SIZE, TEXT_MAX_LEN = 8000, 64  # WordPiece vocabulary and sequence length of text tasks
# What a spec may set them to: 8 tokens hold a few words; attention's cost grows with the square
# of the length, and 4,096 is what long-sequence benchmarks use. Vocabularies of 100 hold little
# more than the characters; 100,000 is above BERT's and GPT-2's.
MAX_LEN_RANGE, VOCAB_SIZE_RANGE = (8, 4096), (100, 100_000)
BUILTIN_TASKS: dict[str, TaskShape] = {
    "digits": ImageTaskShape(channels=1, image_size=8, num_classes=10),
    "fashion-mnist": ImageTaskShape(channels=1, image_size=28, num_classes=10),
    "rotten-tomatoes": TextTaskShape(vocab_size=TEXT_VOCAB_SIZE, max_len=TEXT_MAX_LEN, num_classes=2),
}
VAL_FRACTION = TEST_FRACTION = 0.1  # of every task's data but Fashion-MNIST's (its own test set)
# Training examples of each built-in task (its split of nas.tasks.data), for the defaults that
# depend on a task's size (supernet epochs) without loading it.
BUILTIN_TRAIN_EXAMPLES = {"digits": 1439, "fashion-mnist": 54000, "rotten-tomatoes": 10248}
FILE_FORMATS = ("csv", "jsonl", "npz")  # a user's own data: text tables or image arrays
GENERATED_TASKS = tuple(GENERATORS)  # `task: {generate: listops}`: nas.tasks.generated
BENCHMARK_TASK = "nas-bench-bert"  # tabular replay of NAS-Bench-BERT: nothing is trained
BENCHMARK_METRICS = ("accuracy", "params", "flops")  # the table has no latency


def training_share(examples: int) -> int:
    """About the training split of a task of `examples` (within a few per class of the stratified
    cut `nas.tasks.data` makes)."""
    return round(examples * (1 - VAL_FRACTION - TEST_FRACTION))


def builtin_kind(name: str) -> str:
    """text | image, for a built-in task name."""
    return "text" if isinstance(BUILTIN_TASKS[name], TextTaskShape) else "image"


@dataclass(frozen=True)
class TextSettings:
    vocab_size: int  # the most entries the WordPiece vocabulary may have
    max_len: int  # tokens a text is padded or cut to, [CLS] and [SEP] included
    vocab_needed: int | None = None  # a generated task: the most entries its words can take


def text_settings(spec: str | Mapping[str, Any], vocab_size: int | None = None, max_len: int | None = None) -> TextSettings:
    """The tokenizer settings of a text task spec: its own `vocab_size` and `max_len`, else the
    arguments, else the defaults. A generated task's defaults hold every word whole and its
    longest text, and smaller settings are refused, since a cut text loses its answer (the
    queries of a recall text come last). ValueError "field: message" for a setting that does not
    fit, or a generated task's bad parameter (`generated_task`)."""
    own = spec if isinstance(spec, Mapping) else {}
    given: dict[str, int | None] = {}
    for field, argument in (("vocab_size", vocab_size), ("max_len", max_len)):
        if own.get(field) is not None and argument is not None and own[field] != argument:
            raise ValueError(f"{field}: {argument} given, but the task spec says {own[field]}")
        given[field] = own.get(field) if own.get(field) is not None else argument
    if own.get("generate") is None:
        return TextSettings(given["vocab_size"] or TEXT_VOCAB_SIZE, given["max_len"] or TEXT_MAX_LEN)
    task = generated_task(own)
    longest, needed = task.longest() + ADDED_TOKENS, whole_word_vocab_size(task.tokens())
    what = f"{task.name} ({', '.join(f'{k} {v:,}' for k, v in task.to_spec().items() if k not in ('generate', 'examples'))})"
    if longest > MAX_LEN_RANGE[1]:
        raise ValueError(f"{task.generator.length_field}: {what} makes texts of up to {longest:,} tokens with [CLS] and [SEP], above the {MAX_LEN_RANGE[1]:,} a task may have; make them shorter")
    if given["max_len"] is not None and given["max_len"] < longest:
        raise ValueError(f"max_len: {given['max_len']} would cut texts of {what}, which take up to {longest:,} tokens with [CLS] and [SEP]; leave it out or give at least {longest:,}")
    if given["vocab_size"] is not None and given["vocab_size"] < needed:
        raise ValueError(f"vocab_size: {given['vocab_size']:,} may split words of {what} into pieces, making texts longer than max_len; keeping every word whole takes up to {needed:,} entries: leave it out or give at least {needed:,}")
    return TextSettings(given["vocab_size"] or max(TEXT_VOCAB_SIZE, needed), given["max_len"] or longest, needed)
