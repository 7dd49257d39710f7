"""Reading NAS-Bench-BERT (Serianni & Kalita, ACL 2023; data CC BY 4.0) records as FlexiBERT architectures.

A record's `hparams.model_hparam_overrides` holds one `hidden_size` and a list of encoder layers
(`operation_type` SA|LT|DSC, `operation_parameter` SDP|WMA|DFT|DCT|5|9, `num_operation_heads`,
`feed_forward_dimension` repeated `num_feed_forward` times).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search_spaces.flexibert.arch import FlexiBertArch
from search_spaces.flexibert.choices import PRESETS
from search_spaces.flexibert.arch import parse_flexibert
from search_spaces.validation import ArchValidationError, Problem


@dataclass(frozen=True)
class BenchmarkRecord:
    record_id: int
    arch: FlexiBertArch
    scores: dict[str, float]  # GLUE task scores and their mean under "glue"

    def to_dict(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "arch_id": self.arch.arch_id, "arch": self.arch.to_dict()}


def record_to_arch_data(record: dict[str, Any]) -> dict[str, Any]:
    """The FlexiBERT JSON form of one benchmark record's architecture."""
    overrides = record["hparams"]["model_hparam_overrides"]
    hidden = overrides["hidden_size"]
    layers = []
    for layer in overrides["nas_config"]["encoder_layers"]:
        op = f"{str(layer['operation_type']).lower()}-{str(layer['operation_parameter']).lower()}"
        layers.append(
            {
                "hidden": hidden,
                "heads": layer["num_operation_heads"],
                "op": op,
                "ff": [layer["feed_forward_dimension"]] * layer["num_feed_forward"],
            }
        )
    return {"layers": layers}


def load_nas_bench_bert(path: str | Path) -> list[BenchmarkRecord]:
    """All records of `BERT_benchmark.json`, each checked against the `nas-bench-bert` preset."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArchValidationError([Problem("", f"{path}: no such file")]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArchValidationError([Problem("", f"{path}: not valid JSON ({exc})")]) from None
    if not isinstance(raw, list):
        raise ArchValidationError([Problem("", f"{path}: expected a list of benchmark records")])
    records = []
    for index, record in enumerate(raw):
        where = f"[{index}]"
        try:
            data = record_to_arch_data(record)
            record_id = int(record["id"])
            scores = {k: float(v) for k, v in record.get("scores", {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArchValidationError([Problem(where, f"not a NAS-Bench-BERT record ({exc!r})")]) from None
        try:
            arch = parse_flexibert(data, PRESETS["nas-bench-bert"])
        except ArchValidationError as err:
            raise ArchValidationError(err.prefixed(f"{where}.arch")) from None
        records.append(BenchmarkRecord(record_id=record_id, arch=arch, scores=scores))
    return records
