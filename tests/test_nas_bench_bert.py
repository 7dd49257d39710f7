"""Every NAS-Bench-BERT record imports into the nas-bench-bert preset, builds and runs."""

from __future__ import annotations

import json

import pytest
import torch

from search_spaces import ArchValidationError, TextTaskShape, get_space
from search_spaces.flexibert.nas_bench_bert import load_nas_bench_bert


@pytest.fixture(scope="module")
def records(nas_bench_bert_path):
    return load_nas_bench_bert(nas_bench_bert_path)


def test_all_records_import_as_491_distinct_architectures(records, nas_bench_bert_path):
    raw = json.loads(nas_bench_bert_path.read_text())
    assert len(records) == 500
    assert len({r.arch.arch_id for r in records}) == 491
    space = get_space("flexibert", "nas-bench-bert")
    for record, source in zip(records, raw):
        assert space.contains(record.arch)
        overrides = source["hparams"]["model_hparam_overrides"]
        layers = overrides["nas_config"]["encoder_layers"]
        assert len(record.arch.layers) == len(layers)
        for layer, src in zip(record.arch.layers, layers):
            assert layer.hidden == overrides["hidden_size"]
            assert layer.heads == src["num_operation_heads"]
            assert layer.ff == (src["feed_forward_dimension"],) * src["num_feed_forward"]
            assert layer.ops[0] == f"{src['operation_type']}-{src['operation_parameter']}".lower()
        assert record.scores["glue"] == pytest.approx(source["scores"]["glue"])


def test_every_architecture_builds_and_runs_a_forward_pass(records):
    space = get_space("flexibert", "nas-bench-bert")
    task = TextTaskShape(vocab_size=300, max_len=16, num_classes=2)
    ids = torch.randint(1, 300, (2, 16))
    ids[1, 9:] = 0
    unique = {r.arch.arch_id: r.arch for r in records}
    torch.manual_seed(0)
    for arch in unique.values():
        with torch.no_grad():
            logits = space.build(arch, task).eval()(ids)
        assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_broken_benchmark_files_are_reported(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(ArchValidationError, match="no such file"):
        load_nas_bench_bert(missing)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 0, "hparams": {}}]')
    with pytest.raises(ArchValidationError, match=r"\[0\]: not a NAS-Bench-BERT record"):
        load_nas_bench_bert(bad)
    out_of_space = tmp_path / "out.json"
    layer = {"operation_type": "SA", "operation_parameter": "SDP", "num_operation_heads": 3, "feed_forward_dimension": 512, "num_feed_forward": 1}
    out_of_space.write_text(json.dumps([{"id": 7, "hparams": {"model_hparam_overrides": {"hidden_size": 128, "nas_config": {"encoder_layers": [layer, layer]}}}}]))
    with pytest.raises(ArchValidationError, match=r"\[0\]\.arch\.layers\[0\]\.heads: 3 not in \{2, 4\}"):
        load_nas_bench_bert(out_of_space)
