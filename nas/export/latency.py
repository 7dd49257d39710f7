"""Latency as a user deploys a model: the exported model in a runtime (ONNX Runtime by default,
TorchScript, or eager PyTorch), a batch size and a number of threads, on the machine that runs
the measurement.

A measurement warms the model up, then times calls in rounds until its figure is known to a
stated precision: the 95% interval of the figure (from order statistics, which assume nothing of
the timings' distribution) must be within `precision` of it on either side, or the time allowed
runs out, and then the interval says how well it is known. Eager PyTorch on a small model times
Python's dispatch more than arithmetic; the exported runtimes are what a deployment runs.

The figure is a low quantile of the call times (`QUANTILE`), not their median: on a shared
machine other processes stretch some calls by tens of percent, and the share they stretch drifts
from one second to the next, so the medians of one model measured a few seconds apart differed by
up to 86% here, while the 10th percentile, the model's cost when nothing interrupts it, repeats far
better (docs/benchmarks/latency.md). The median is kept beside it.

ONNX Runtime times the model as torch's TorchScript-based ONNX exporter writes it, at the
measured batch size: ten times faster to write than the dynamo export `nas export` writes (0.3 to
0.6 s against 2 to 8 s), the same operators, and the same speed within a few percent
(docs/benchmarks/latency.md); the dynamo export is the fallback when the other fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.job.formats import LATENCY_RUNTIMES as RUNTIMES
from nas.job.formats import LatencyRuntime as Runtime
from nas.job.schema import LatencySpec

logger = logging.getLogger(__name__)

ROUND = 10  # calls timed between two looks at the interval
WARM_UP_S = 0.2  # first calls allocate and (ONNX Runtime) pick kernels
MIN_WARM_UP_CALLS = 5
Z_95 = 1.959963984540054
QUANTILE = 0.1  # the call-time quantile reported as the latency (see the module's docstring)


@dataclass(frozen=True)
class LatencySettings:
    runtime: Runtime = "onnxruntime"
    batch_size: int = 1
    threads: int = 1
    precision: float = 0.03  # the figure's 95% interval: within this share of it, on either side
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

    @classmethod
    def of(cls, spec: LatencySpec | None) -> LatencySettings:
        """A job's `latency` section as settings; a job stored before the section existed gets
        the section's defaults."""
        spec = spec or LatencySpec()
        return cls(runtime=spec.runtime, batch_size=spec.batch_size, threads=spec.threads, precision=spec.precision, max_seconds=spec.max_seconds)


@dataclass(frozen=True)
class Latency:
    """Milliseconds per call of one batch: the QUANTILE of the call times (`ms`) with its 95%
    interval, and the median."""

    ms: float
    low_ms: float
    high_ms: float
    median_ms: float
    repeats: int
    runtime: str
    batch_size: int
    threads: int

    @property
    def relative_error(self) -> float:
        """How far the interval reaches from the figure, as a share of it (the larger side)."""
        return max(self.ms - self.low_ms, self.high_ms - self.ms) / self.ms

    def describe(self) -> str:
        """'1.23 ms (1.21–1.25; median 1.31 ms, 240 calls; onnxruntime, batch 1, 1 thread)'."""
        threads = f"{self.threads} thread{'s' * (self.threads != 1)}"
        return (
            f"{self.ms:.3g} ms ({self.low_ms:.3g}–{self.high_ms:.3g}; median {self.median_ms:.3g} ms, {self.repeats} calls; "
            f"{self.runtime}, batch {self.batch_size}, {threads})"
        )

    def to_dict(self) -> dict[str, Any]:
        """As an export's arch.json records it, with the machine that measured it."""
        return {**dataclasses.asdict(self), "quantile": QUANTILE, "machine": this_machine()}

    def metrics(self) -> dict[str, float | str]:
        """As a candidate's metrics: `latency_ms` (an objective and a limit), its spread, and
        the machine that measured it (what a latency predictor is of)."""
        return {
            "latency_ms": self.ms, "latency_low_ms": self.low_ms, "latency_high_ms": self.high_ms, "latency_median_ms": self.median_ms,
            "latency_calls": float(self.repeats), "latency_machine": this_machine(),
        }  # fmt: skip


def this_machine() -> str:
    """'Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz, 2 CPUs, Linux x86_64': what a latency is of."""
    model = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass  # not Linux: platform's name stands
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"


def quantile_interval(timings: Sequence[float], quantile: float = 0.5) -> tuple[float, float, float]:
    """(low, value, high): the `quantile` of the timings and the order statistics bracketing it
    at 95% (ranks n q -/+ z sqrt(n q (1 - q)), the binomial's normal approximation)."""
    ordered = np.sort(np.asarray(timings, dtype=np.float64))
    n = len(ordered)
    if n == 0:
        raise ValueError("timings: none to summarise")
    centre, reach = n * quantile, Z_95 * math.sqrt(n * quantile * (1 - quantile))
    low_rank, high_rank = max(1, math.floor(centre - reach)), min(n, math.ceil(1 + centre + reach))  # 1-based, upper one step out
    low, high = ordered[low_rank - 1], ordered[high_rank - 1]
    if low == high:
        # Every timing near the quantile is the same clock tick (thousands of calls of a few
        # microseconds): the figure is known to a tick, not exactly; the neighbouring ticks bound it.
        below, above = ordered[ordered < low], ordered[ordered > high]
        low, high = (below[-1] if len(below) else low), (above[0] if len(above) else high)
    return float(low), float(np.quantile(ordered, quantile)), float(high)


def measure_latency(model: nn.Module, example: torch.Tensor, settings: LatencySettings | None = None) -> Latency:
    """The latency of `model` (in eval mode) on batches of `example` (one input, batch dimension
    first, e.g. shape (1, 8, 8)) repeated to `settings.batch_size`, in `settings.runtime`; the
    model is left in eval mode."""
    settings = settings or LatencySettings()
    batch = example[:1].repeat(settings.batch_size, *([1] * (example.dim() - 1)))
    with tempfile.TemporaryDirectory(prefix="nas-latency-") as scratch, _threads(settings.threads):
        run = _runner(model.eval(), batch, settings, Path(scratch))
        return time_calls(run, settings)


def time_calls(run: Callable[[], Any], settings: LatencySettings) -> Latency:
    """Warm `run` up, then time its calls in rounds until the figure is known (see the module)."""
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
        low, figure, high = quantile_interval(timings, QUANTILE)
        known = max(figure - low, high - figure) <= settings.precision * figure
        if known or time.perf_counter() >= deadline:
            if not known:
                logger.info("latency: %.1f s of calls left the figure within %.1f%%, not %.1f%%", settings.max_seconds, 100 * max(figure - low, high - figure) / figure, 100 * settings.precision)
            return Latency(figure, low, high, float(np.median(timings)), len(timings), settings.runtime, settings.batch_size, settings.threads)


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

    path = scratch / "model.onnx"
    onnx_for_timing(model, batch, path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = settings.threads, 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: batch.numpy()}
    return lambda: session.run(None, feed)


def onnx_for_timing(model: nn.Module, batch: torch.Tensor, path: Path) -> None:
    """The model as an ONNX file for `batch`'s shape, written by the TorchScript-based exporter
    (see the module's docstring), or by the dynamo exporter where that one fails."""
    from nas.export.exporter import ONNX_OPSET, save_onnx

    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # its deprecation notice, once per model
            torch.onnx.export(model, (batch,), str(path), input_names=["inputs"], output_names=["logits"], opset_version=ONNX_OPSET, dynamo=False)
    except Exception as exc:  # noqa: BLE001 - any exporter failure: the other exporter is the answer
        logger.info("latency: the TorchScript-based ONNX exporter failed (%s: %s); timing the dynamo export", type(exc).__name__, exc)
        save_onnx(model, batch, path)


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
