"""Latency as a user deploys a model: the exported model in a runtime (ONNX Runtime by default,
TorchScript, or eager PyTorch), a batch size and a number of threads, on the machine that runs
the measurement.

A measurement warms the model up, then times calls in rounds until the median is known to a
stated precision: the 95% interval of the median (from order statistics, which assume nothing of
the timings' distribution) must be within `precision` of it on either side, or the time allowed
runs out, and then the interval says how well it is known. Eager PyTorch on a small model times
Python's dispatch more than arithmetic; the exported runtimes are what a deployment runs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

Runtime = Literal["onnxruntime", "torchscript", "torch"]
RUNTIMES: tuple[str, ...] = ("onnxruntime", "torchscript", "torch")
ROUND = 10  # calls timed between two looks at the interval
WARM_UP_S = 0.2  # first calls allocate and (ONNX Runtime) pick kernels
MIN_WARM_UP_CALLS = 5
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class LatencySettings:
    runtime: Runtime = "onnxruntime"
    batch_size: int = 1
    threads: int = 1
    precision: float = 0.03  # the median's 95% interval: within this share of it, on either side
    min_repeats: int = 30
    max_seconds: float = 10.0  # of timed calls, per model

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime: {self.runtime!r} not one of {', '.join(RUNTIMES)}")
        for name, low in (("batch_size", 1), ("threads", 1), ("min_repeats", 5)):
            if getattr(self, name) < low:
                raise ValueError(f"{name}: {getattr(self, name)} must be >= {low}")
        if not 0 < self.precision < 1:
            raise ValueError(f"precision: {self.precision} must be between 0 and 1")
        if not self.max_seconds > 0:
            raise ValueError(f"max_seconds: {self.max_seconds} must be > 0")


@dataclass(frozen=True)
class Latency:
    """Milliseconds per call of one batch: the median and its 95% interval."""

    median_ms: float
    low_ms: float
    high_ms: float
    repeats: int
    runtime: str
    batch_size: int
    threads: int

    @property
    def relative_error(self) -> float:
        """How far the interval reaches from the median, as a share of it (the larger side)."""
        return max(self.median_ms - self.low_ms, self.high_ms - self.median_ms) / self.median_ms

    def describe(self) -> str:
        """'1.23 ms (1.21–1.25, 240 calls; onnxruntime, batch 1, 1 thread)'."""
        threads = f"{self.threads} thread{'s' * (self.threads != 1)}"
        return f"{self.median_ms:.3g} ms ({self.low_ms:.3g}–{self.high_ms:.3g}, {self.repeats} calls; {self.runtime}, batch {self.batch_size}, {threads})"


def median_interval(timings: Sequence[float]) -> tuple[float, float, float]:
    """(low, median, high): the median and the order statistics bracketing it at 95%."""
    ordered = np.sort(np.asarray(timings, dtype=np.float64))
    n = len(ordered)
    if n == 0:
        raise ValueError("timings: none to summarise")
    reach = Z_95 * math.sqrt(n) / 2  # ranks of the interval: n/2 -/+ z sqrt(n)/2 (1-based, upper one step out)
    low_rank, high_rank = max(1, math.floor(n / 2 - reach)), min(n, math.ceil(1 + n / 2 + reach))
    return float(ordered[low_rank - 1]), float(np.median(ordered)), float(ordered[high_rank - 1])


def measure_latency(model: nn.Module, example: torch.Tensor, settings: LatencySettings | None = None) -> Latency:
    """The latency of `model` (in eval mode) on batches of `example` (one input, batch dimension
    first, e.g. shape (1, 8, 8)) repeated to `settings.batch_size`, in `settings.runtime`."""
    settings = settings or LatencySettings()
    batch = example[:1].repeat(settings.batch_size, *([1] * (example.dim() - 1)))
    with tempfile.TemporaryDirectory(prefix="nas-latency-") as scratch, _threads(settings.threads):
        run = _runner(model.eval(), batch, settings, Path(scratch))
        return _time(run, settings)


def _time(run: Callable[[], Any], settings: LatencySettings) -> Latency:
    warm_until = time.perf_counter() + WARM_UP_S
    calls = 0
    while calls < MIN_WARM_UP_CALLS or time.perf_counter() < warm_until:
        run()
        calls += 1
    timings: list[float] = []
    deadline = time.perf_counter() + settings.max_seconds
    while True:
        for _ in range(ROUND):
            started = time.perf_counter()
            run()
            timings.append((time.perf_counter() - started) * 1000)
        if len(timings) < settings.min_repeats:
            continue
        low, median, high = median_interval(timings)
        known = max(median - low, high - median) <= settings.precision * median
        if known or time.perf_counter() >= deadline:
            if not known:
                logger.info("latency: %.1f s of calls left the median within %.1f%%, not %.1f%%", settings.max_seconds, 100 * max(median - low, high - median) / median, 100 * settings.precision)
            return Latency(median, low, high, len(timings), settings.runtime, settings.batch_size, settings.threads)


def _runner(model: nn.Module, batch: torch.Tensor, settings: LatencySettings, scratch: Path) -> Callable[[], Any]:
    """One call of the model on `batch` in the runtime, as the exported file would be called."""
    if settings.runtime == "torch":
        return lambda: _no_grad_call(model, batch)
    if settings.runtime == "torchscript":
        from nas.export.exporter import save_torchscript

        path = scratch / "model.pt"
        save_torchscript(model, batch, path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates jit.load; users still load TorchScript so
            loaded = torch.jit.load(str(path)).eval()
        return lambda: _no_grad_call(loaded, batch)
    import onnxruntime

    from nas.export.exporter import save_onnx

    path = scratch / "model.onnx"
    save_onnx(model, batch, path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = settings.threads, 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: batch.numpy()}
    return lambda: session.run(None, feed)


def _no_grad_call(model: Any, batch: torch.Tensor) -> Any:
    with torch.no_grad():
        return model(batch)


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """torch's intra-op threads for the measurement (process-wide: restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
