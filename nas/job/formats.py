"""Export formats and latency runtimes by name: the words a spec or an export request may use.
Light (no torch): the spec, the service and the API validate requests with it; `nas.export`
implements them."""

from __future__ import annotations

from typing import Literal

ExportFormat = Literal["pytorch", "torchscript", "onnx"]
EXPORT_FORMATS: tuple[str, ...] = ("pytorch", "torchscript", "onnx")
DEFAULT_FINETUNE_LR = 1e-3  # peak learning rate of an export's fine-tune (nas export --finetune-lr)
LatencyRuntime = Literal["onnxruntime", "torchscript", "torch"]
LATENCY_RUNTIMES: tuple[str, ...] = ("onnxruntime", "torchscript", "torch")  # nas.export.latency
MIN_LATENCY_CALIBRATION = 8  # measured candidates a latency predictor needs (nas.export.latency_model)
