"""Latency as a user deploys a model: the exported model in its runtime, timed until the median is
known to a stated precision. What the tests assert is the procedure (warm-up, repeats, the
interval, the runtimes, the settings); how repeatable the figures are on a machine is measured by
scripts/bench_latency.py."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nas.export.latency import QUANTILE, RUNTIMES, LatencySettings, measure_latency, quantile_interval
from search_spaces import get_space


@pytest.mark.parametrize("quantile", [0.5, QUANTILE])
def test_the_interval_of_a_quantile_holds_it_95_times_in_100(quantile):
    if quantile == 0.5:
        assert quantile_interval(list(range(1, 101))) == (40.0, 50.5, 61.0)  # ranks 50 -/+ 1.96 * sqrt(100) / 2
    # Over many samples of a skewed distribution, the interval holds the true quantile about 95% of the time.
    rng = np.random.default_rng(0)
    true_value = -np.log(1 - quantile)  # of the exponential distribution of mean 1
    covered = sum(low <= true_value <= high for low, _, high in (quantile_interval(rng.exponential(size=200), quantile) for _ in range(1000)))
    assert 930 <= covered <= 985, covered
    with pytest.raises(ValueError, match="timings"):
        quantile_interval([])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_runtime_times_the_model_it_would_run(runtime):
    space = get_space("vit-resnas", "small-images")
    shape = space.default_task()
    model = space.build(space.extreme(random.Random(0), largest=False), shape)
    example = torch.rand(1, shape.channels, shape.image_size, shape.image_size) * 16
    settings = LatencySettings(runtime=runtime, batch_size=4, threads=1, max_seconds=2.0)
    latency = measure_latency(model, example, settings)
    assert 0 < latency.low_ms <= latency.ms <= latency.high_ms and latency.ms <= latency.median_ms
    assert latency.repeats >= settings.min_repeats and latency.repeats % 10 == 0
    assert (latency.runtime, latency.batch_size, latency.threads) == (runtime, 4, 1)
    assert torch.get_num_threads() >= 1 and runtime in latency.describe() and "batch 4, 1 thread" in latency.describe()


def test_a_precision_out_of_reach_stops_at_the_time_allowed_and_says_how_well_it_knows():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    settings = LatencySettings(runtime="torch", precision=1e-9, max_seconds=0.2)
    latency = measure_latency(model, torch.rand(1, 8, 8), settings)
    assert latency.relative_error > settings.precision and latency.repeats > settings.min_repeats


def test_timings_tied_at_one_clock_tick_are_known_to_a_tick_not_exactly():
    from nas.export.latency import quantile_interval

    timings = [8.0] * 500 + [7.9] * 3 + [8.1] * 40
    assert quantile_interval(timings, 0.1) == (7.9, 8.0, 8.1)
    assert quantile_interval([5.0] * 50, 0.5) == (5.0, 5.0, 5.0)  # nothing else observed: nothing wider to say


def test_the_threads_of_this_process_are_left_as_they_were():
    before = torch.get_num_threads()
    measure_latency(torch.nn.Linear(8, 2), torch.rand(1, 8), LatencySettings(runtime="torch", threads=1 if before > 1 else 2, max_seconds=0.1))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"runtime": "tensorrt"}, "runtime"), ({"batch_size": 0}, "batch_size"), ({"threads": 0}, "threads"), ({"precision": 0}, "precision"), ({"max_seconds": 0}, "max_seconds")],
)
def test_settings_that_cannot_work_are_refused_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        LatencySettings(**changes)
