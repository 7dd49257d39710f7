"""The kinds of files a job's artifacts point to."""

from __future__ import annotations

from enum import StrEnum


class ArtifactKind(StrEnum):
    SUPERNET_CHECKPOINT = "supernet_checkpoint"  # the trained supernet's checkpoint directory
    EXPORT = "export"  # a candidate exported as a standalone model
    LATENCY_PREDICTOR = "latency_predictor"  # no file: a calibrated predictor in its meta, for later jobs on the same machine
