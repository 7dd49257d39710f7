"""The built-in tasks by name, with their input shapes, and the text settings every text task is
tokenised with. Light on purpose: the job spec checks names and costs shapes without loading data
(which imports torch); `nas.tasks.data` loads exactly these."""

from __future__ import annotations

from search_spaces import ImageTaskShape, TaskShape, TextTaskShape

TEXT_VOCAB_SIZE, TEXT_MAX_LEN = 8000, 64  # WordPiece vocabulary and sequence length of text tasks
BUILTIN_TASKS: dict[str, TaskShape] = {
    "digits": ImageTaskShape(channels=1, image_size=8, num_classes=10),
    "fashion-mnist": ImageTaskShape(channels=1, image_size=28, num_classes=10),
    "rotten-tomatoes": TextTaskShape(vocab_size=TEXT_VOCAB_SIZE, max_len=TEXT_MAX_LEN, num_classes=2),
}
# Training examples of each built-in task (its split of nas.tasks.data), for the defaults that
# depend on a task's size (supernet epochs) without loading it.
BUILTIN_TRAIN_EXAMPLES = {"digits": 1439, "fashion-mnist": 54000, "rotten-tomatoes": 10248}
FILE_FORMATS = ("csv", "jsonl", "npz")  # a user's own data: text tables or image arrays
BENCHMARK_TASK = "nas-bench-bert"  # tabular replay of NAS-Bench-BERT: nothing is trained
BENCHMARK_METRICS = ("accuracy", "params", "flops")  # the table has no latency


def builtin_kind(name: str) -> str:
    """text | image, for a built-in task name."""
    return "text" if isinstance(BUILTIN_TASKS[name], TextTaskShape) else "image"
