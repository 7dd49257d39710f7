"""Built-in tasks load real data offline; user files load or fail with the file and the problem."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from nas.tasks import data as data_module
from nas.tasks.data import TaskDataError, load_task, stratified_split
from nas.tasks.generated import generated_task
from nas.tasks.tokenizer import UNK_ID


def test_digits_split_is_deterministic_stratified_and_disjoint(tmp_path):
    a, b, c = load_task("digits", seed=0, workdir=tmp_path), load_task("digits", seed=0, workdir=tmp_path), load_task("digits", seed=1, workdir=tmp_path)
    assert a.shape.image_size == 8 and a.shape.channels == 1 and a.shape.num_classes == 10
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    assert torch.equal(a.val.inputs, b.val.inputs) and not torch.equal(a.val.inputs, c.val.inputs)
    assert set(a.val.labels.tolist()) == set(range(10)) and set(a.test.labels.tolist()) == set(range(10))
    assert abs(a.train.inputs.mean().item()) < 1e-4  # normalised with training statistics
    train_rows = {tuple(x.flatten().tolist()) for x in a.train.inputs}
    assert sum(tuple(x.flatten().tolist()) in train_rows for x in a.test.inputs) < 5  # digits has a few duplicates


def test_stratified_split_keeps_class_proportions():
    labels = np.array([0] * 80 + [1] * 20)
    train, val, test = stratified_split(labels, seed=3, holdout=(0.1, 0.1))
    assert len(val) == 10 and (labels[val] == 1).sum() == 2
    assert len(set(train) | set(val) | set(test)) == 100


def test_fashion_mnist(tmp_path, fashion_mnist):
    task = load_task("fashion-mnist", workdir=tmp_path, max_train=1000)
    assert task.shape.image_size == 28 and len(task.test) == 10_000 and len(task.train) == 1000 and len(task.val) == 6000
    assert task.classes[9] == "ankle boot"


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(TaskDataError, match="apt-get install dataset-fashion-mnist"):
        load_task("fashion-mnist")


def test_rotten_tomatoes_with_its_own_tokenizer(tmp_path):
    task = load_task("rotten-tomatoes", workdir=tmp_path, vocab_size=2000, max_len=32)
    assert task.classes == ["fresh", "rotten"] and task.shape.vocab_size == 2000 and task.shape.max_len == 32
    assert len(task.train) + len(task.val) + len(task.test) == 12808
    assert (task.train.inputs[:, 0] == 2).all()  # [CLS] first, as every tokenizer here lays sequences out
    assert task.tokenizer_path.exists() and task.tokenizer_path.parent == tmp_path / "rotten-tomatoes"
    again = load_task("rotten-tomatoes", workdir=tmp_path, vocab_size=2000, max_len=32)
    assert again.tokenizer_path == task.tokenizer_path and torch.equal(again.val.inputs, task.val.inputs)


def test_a_task_tokenizes_the_same_in_every_run(tmp_path):
    """Same texts, same vocabulary and ids: trained afresh in another directory, the task's
    inputs are identical (the `tokenizers` trainer gave different ones on each run)."""
    first = load_task("rotten-tomatoes", workdir=tmp_path / "a", vocab_size=2000, max_len=32)
    second = load_task("rotten-tomatoes", workdir=tmp_path / "b", vocab_size=2000, max_len=32)
    assert first.tokenizer_path.read_text() == second.tokenizer_path.read_text()
    assert torch.equal(first.train.inputs, second.train.inputs)


def test_a_checkpoints_tokenizer_file_is_used_as_recorded(tmp_path):
    from nas.tasks.tokenizer import LEGACY

    task = load_task("rotten-tomatoes", workdir=tmp_path, vocab_size=2000, max_len=32)
    recorded = task.source["tokenizer_file"]
    assert recorded == task.tokenizer_path.name and recorded.startswith("tokenizer-wp2-")
    # A checkpoint from before deterministic tokenizers finds the file the old trainer left.
    legacy = task.tokenizer_path.with_name(recorded.replace("tokenizer-wp2-", "tokenizer-"))
    legacy.write_text(task.tokenizer_path.read_text())
    assert load_task("rotten-tomatoes", workdir=tmp_path, vocab_size=2000, max_len=32, tokenizer_file=LEGACY).tokenizer_path == legacy
    assert load_task("rotten-tomatoes", workdir=tmp_path, vocab_size=2000, max_len=32, tokenizer_file=legacy.name).tokenizer_path == legacy
    legacy.unlink()  # gone: trained again, the deterministic way
    assert load_task("rotten-tomatoes", workdir=tmp_path, vocab_size=2000, max_len=32, tokenizer_file=LEGACY).tokenizer_path.name == recorded


def test_wordpiece_merges_the_most_frequent_pair_first_and_breaks_ties_by_order():
    from nas.tasks.tokenizer import SPECIAL_TOKENS, wordpiece_vocab

    vocab = wordpiece_vocab({"low": 5, "lower": 2, "newest": 6, "widest": 3}, len(SPECIAL_TOKENS) + 100)
    pieces = vocab[len(SPECIAL_TOKENS) :]
    alphabet = sorted({"l", "n", "w", "##o", "##w", "##e", "##r", "##s", "##t", "##i", "##d"})
    assert pieces[: len(alphabet)] == alphabet
    merges = pieces[len(alphabet) :]
    # (##e, ##s) and (##s, ##t) both occur 9 times, (##o, ##w) and (l, ##o) 7: the pair that sorts first merges first.
    assert merges[:4] == ["##es", "##est", "##ow", "low"]
    assert {"newest", "widest", "lower"} <= set(merges)
    assert wordpiece_vocab({"low": 5, "lower": 2, "newest": 6, "widest": 3}, len(SPECIAL_TOKENS) + 100) == vocab


def write_reviews(path, rows):
    path.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows))


def test_user_csv_and_jsonl(tmp_path):
    rows = [(f"a fine film number {i}" if i % 2 else f"a dull film number {i}", i % 2) for i in range(60)]
    write_reviews(tmp_path / "reviews.csv", rows)
    csv_task = load_task({"csv": str(tmp_path / "reviews.csv"), "text_column": "text", "label_column": "label"}, workdir=tmp_path / "w", vocab_size=200, max_len=16)
    assert csv_task.classes == ["0", "1"] and csv_task.kind == "text" and len(csv_task.train) == 48
    (tmp_path / "reviews.jsonl").write_text("".join(json.dumps({"review": t, "stars": ["low", "high"][y]}) + "\n" for t, y in rows))
    jsonl_task = load_task({"jsonl": str(tmp_path / "reviews.jsonl"), "text_column": "review", "label_column": "stars"}, workdir=tmp_path / "w", vocab_size=200, max_len=16)
    assert jsonl_task.classes == ["high", "low"]



def test_a_text_files_spec_sets_its_tokenizer(tmp_path):
    rows = [(f"a fine film number {i}" if i % 2 else f"a dull film number {i}", i % 2) for i in range(60)]
    write_reviews(tmp_path / "reviews.csv", rows)
    spec = {"csv": str(tmp_path / "reviews.csv"), "max_len": 12, "vocab_size": 150}
    task = load_task(spec, workdir=tmp_path / "w")
    assert task.shape.max_len == 12 and task.train.inputs.shape[1] == 12 and task.shape.vocab_size <= 150
    assert (task.source["max_len"], task.source["vocab_size"]) == (12, 150)  # a checkpoint loads it again so
    assert torch.equal(load_task(**{**task.source, "workdir": tmp_path / "w"}).train.inputs, task.train.inputs)
    with pytest.raises(TaskDataError, match="^task.max_len: 16 given, but the task spec says 12$"):
        load_task(spec, workdir=tmp_path / "w", max_len=16)


def test_a_generated_task_loads_deterministically_whole_and_split(tmp_path):
    spec = {"generate": "listops", "examples": 600, "min_length": 16, "max_length": 40}
    task = load_task(spec, seed=1, workdir=tmp_path)
    assert task.name == "listops" and task.kind == "text" and task.classes == [str(d) for d in range(10)]
    assert len(task.train) + len(task.val) + len(task.test) == 600 and abs(len(task.val) - 60) <= 5 and abs(len(task.test) - 60) <= 5
    assert data_module.check_task_data(spec) == 480  # known without generating anything
    assert task.shape.max_len == 40 + 13 + 2 and task.shape.vocab_size > int(task.train.inputs.max())
    assert not any((split.inputs == UNK_ID).any() for split in (task.train, task.val, task.test))  # every word known
    tokenizer = Tokenizer.from_file(str(task.tokenizer_path))
    tokenizer.no_truncation()
    texts, _ = generated_task(spec).generate(seed=1)
    assert max(len(e.tokens) - e.tokens.count("[PAD]") for e in tokenizer.encode_batch(texts)) <= task.shape.max_len  # none cut
    rows = lambda split: {tuple(row.tolist()) for row in split.inputs}
    assert len(rows(task.test) & rows(task.train)) <= 0.05 * len(task.test)  # distinct examples, not copies
    again = load_task(**{**task.source, "workdir": tmp_path})  # as a checkpoint loads its task again
    assert (task.source["max_len"], task.source["vocab_size"], task.source["seed"]) == (55, 8000, 1)
    assert torch.equal(again.train.inputs, task.train.inputs) and torch.equal(again.test.labels, task.test.labels)
    assert not torch.equal(load_task(spec, seed=2, workdir=tmp_path).train.inputs[:50], task.train.inputs[:50])
    recall = load_task({"generate": "recall", "examples": 300, "pairs": 6, "queries": 2, "keys": 20}, workdir=tmp_path)
    assert recall.name == "recall" and recall.shape.max_len == 6 + 1 + 2 + 2 and not (recall.train.inputs == UNK_ID).any()
    with pytest.raises(TaskDataError, match="^task.queries: 9 must be <= pairs"):
        load_task({"generate": "recall", "pairs": 6, "queries": 9}, workdir=tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "no rows"),
        ("text,label\n", "no rows"),
        ("body,label\nhello,1\nbye,0\n", "no column 'text'; columns are ['body', 'label']"),
        ("text,label\nhello,1\nbye,1\n", "only one class ('1')"),
        ("text,label\nhello,1\n,0\n", "row 3: empty or missing 'text'"),
    ],
)
def test_malformed_csv(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(TaskDataError, match=r"bad\.csv.*" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        load_task({"csv": str(path)}, workdir=tmp_path)


def test_malformed_jsonl_and_missing_files(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": 1}\n[1, 2]\n')
    with pytest.raises(TaskDataError, match=r"bad\.jsonl:2: expected a JSON object"):
        load_task({"jsonl": str(path)})
    with pytest.raises(TaskDataError, match="no such file"):
        load_task({"csv": str(tmp_path / "nope.csv")})
    with pytest.raises(TaskDataError, match="exactly one of csv, jsonl or npz"):
        load_task({"csv": "a", "npz": "b"})
    with pytest.raises(TaskDataError, match="not in"):
        load_task("imagenet")


def test_user_npz(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(50, 12, 12, 3)).astype(np.uint8)  # channels last
    np.savez(tmp_path / "pics.npz", images=images, labels=np.arange(50) % 3)
    task = load_task({"npz": str(tmp_path / "pics.npz")})
    assert task.shape.channels == 3 and task.shape.image_size == 12 and task.shape.num_classes == 3
    assert task.train.inputs.shape[1:] == (3, 12, 12)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"images": np.zeros((4, 8, 8))}, "missing array 'labels'"),
        ({"images": np.array([["a"] * 8] * 8 * 4).reshape(4, 8, 8), "labels": np.arange(4)}, "images must be numeric"),
        ({"images": np.zeros((4, 8, 6)), "labels": np.arange(4)}, "square images"),
        ({"images": np.zeros((4, 8, 8)), "labels": np.arange(3)}, "labels must be one per image"),
        ({"images": np.zeros((4, 8, 8)), "labels": np.zeros(4)}, "only one class"),
        ({"images": np.full((4, 8, 8), np.nan), "labels": np.arange(4) % 2}, "NaN"),
    ],
)
def test_malformed_npz(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(TaskDataError, match=message):
        load_task({"npz": str(path)})
