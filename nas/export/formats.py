"""Export formats by name. Light (no torch): the service and the API validate requests with it."""

from __future__ import annotations

from typing import Literal

ExportFormat = Literal["pytorch", "torchscript", "onnx"]
EXPORT_FORMATS: tuple[str, ...] = ("pytorch", "torchscript", "onnx")
DEFAULT_FINETUNE_LR = 1e-3  # peak learning rate of an export's fine-tune (nas export --finetune-lr)
