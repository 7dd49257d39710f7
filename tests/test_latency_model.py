"""The latency predictor: calibrated on real measurements of real models, it ranks models of
clearly different sizes in their order; it stores and reloads to the same predictions; it refuses
calibrations it cannot fit, naming the field. How well it predicts on each space is measured by
scripts/bench_latency_predictor.py."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from nas.export.latency import LatencySettings, measure_latency
from nas.export.latency_model import FEATURES, MIN_MEASUREMENTS, LatencyPredictor, operator_features
from nas.tasks.catalog import BUILTIN_TASKS
from search_spaces import get_space

SPACE = get_space("vit-resnas", "small-images")
SHAPE = BUILTIN_TASKS["digits"]
QUICK = LatencySettings(min_repeats=10, max_seconds=0.25)  # a rough figure: the plain family's sizes differ by 30% or more


@pytest.fixture(scope="module")
def measured():
    """(calibration archs, their latencies, the plain family, their latencies): real ONNX Runtime
    timings, each the lower of two passes over all the models (as the predictor's benchmark
    takes them): a pass that met a burst of load on a shared machine does not decide."""
    example = torch.rand(1, SHAPE.channels, SHAPE.image_size, SHAPE.image_size)
    calibration = [SPACE.sample(random.Random(seed)) for seed in range(MIN_MEASUREMENTS)]
    plain = [member.arch for member in SPACE.plain_family()]
    torch.manual_seed(0)
    models = [SPACE.build(arch, SHAPE) for arch in calibration + plain]
    passes = [[measure_latency(model, example, QUICK).ms for model in models] for _ in range(2)]
    ms = [min(figures) for figures in zip(*passes, strict=True)]
    return calibration, ms[:MIN_MEASUREMENTS], plain, ms[MIN_MEASUREMENTS:]


def test_calibrated_on_a_few_it_ranks_the_plain_family_by_size(measured):
    calibration, calibration_ms, plain, plain_ms = measured
    predictor = LatencyPredictor.fit(SPACE, SHAPE, calibration, calibration_ms, settings=QUICK, machine="test machine")
    predicted = predictor.predict_many(plain)
    assert predicted.shape == (len(plain),) and np.all(predicted > 0)
    error = predictor.error(plain, plain_ms)
    assert error.n == len(plain) and error.kendall_tau >= 0.6, (predicted, plain_ms)  # at most two of ten pairs swapped
    assert error.mean_relative_error < 0.5
    assert sum(predictor.terms(plain[0]).values()) == pytest.approx(predictor.predict(plain[0]))


def test_it_stores_as_json_and_reloads_to_the_same_predictions(measured):
    calibration, calibration_ms, plain, _ = measured
    predictor = LatencyPredictor.fit(SPACE, SHAPE, calibration, calibration_ms, settings=QUICK, machine="test machine")
    stored = json.loads(json.dumps(predictor.to_dict()))
    assert stored["space"] == "vit-resnas" and stored["preset"] == "small-images" and stored["machine"] == "test machine"
    assert stored["task_shape"] == {"kind": "image", "channels": 1, "image_size": 8, "num_classes": 10}
    assert stored["settings"] == {"runtime": "onnxruntime", "batch_size": 1, "threads": 1} and stored["calibrated_on"] == MIN_MEASUREMENTS
    reloaded = LatencyPredictor.from_dict(stored)
    assert [reloaded.predict(arch) for arch in plain] == [predictor.predict(arch) for arch in plain]
    with pytest.raises(ValueError, match="space: 'flexibert'"):
        LatencyPredictor.from_dict(stored, get_space("flexibert"))


def test_it_calibrates_from_measured_latencies_of_one_setting_only(measured):
    calibration, _, plain, _ = measured
    example = torch.rand(1, SHAPE.channels, SHAPE.image_size, SHAPE.image_size)
    latency = measure_latency(SPACE.build(plain[0], SHAPE), example, LatencySettings(runtime="torch", min_repeats=10, max_seconds=0.1))
    predictor = LatencyPredictor.from_measurements(SPACE, SHAPE, [(arch, latency) for arch in calibration], machine="test machine")
    assert predictor.to_dict()["settings"] == {"runtime": "torch", "batch_size": 1, "threads": 1}
    other = LatencySettings(runtime="torch", batch_size=2, min_repeats=10, max_seconds=0.1)
    doubled = measure_latency(SPACE.build(plain[0], SHAPE), example, other)
    with pytest.raises(ValueError, match="measured: latencies of several"):
        LatencyPredictor.from_measurements(SPACE, SHAPE, [(arch, latency) for arch in calibration] + [(plain[0], doubled)], machine="test machine")


def test_too_few_or_mismatched_measurements_are_refused_naming_the_field():
    archs = [SPACE.sample(random.Random(seed)) for seed in range(MIN_MEASUREMENTS)]
    fit = LatencyPredictor.fit
    with pytest.raises(ValueError, match=f"archs: {MIN_MEASUREMENTS - 1} measured architectures; .* at least {MIN_MEASUREMENTS}"):
        fit(SPACE, SHAPE, archs[:-1], [1.0] * (MIN_MEASUREMENTS - 1), settings=QUICK, machine="m")
    with pytest.raises(ValueError, match=f"latencies_ms: {MIN_MEASUREMENTS - 1} latencies for {MIN_MEASUREMENTS} archs"):
        fit(SPACE, SHAPE, archs, [1.0] * (MIN_MEASUREMENTS - 1), settings=QUICK, machine="m")
    with pytest.raises(ValueError, match="latencies_ms: latencies must be a list of positive, finite milliseconds"):
        fit(SPACE, SHAPE, archs, [1.0] * (MIN_MEASUREMENTS - 1) + [float("nan")], settings=QUICK, machine="m")
    predictor = fit(SPACE, SHAPE, archs, [1.0 + i for i in range(MIN_MEASUREMENTS)], settings=QUICK, machine="m")
    with pytest.raises(ValueError, match="measured: 2 latencies for 3 archs"):
        predictor.error(archs[:3], [1.0, 2.0])


@pytest.mark.parametrize(("name", "preset", "task"), [("vit-resnas", "small-images", "fashion-mnist"), ("flexibert", "flexibert", "rotten-tomatoes")])
def test_the_features_account_for_every_flop_of_the_cost(name, preset, task):
    space, shape = get_space(name, preset), BUILTIN_TASKS[task]
    for seed in range(20):
        arch = space.sample(random.Random(seed))
        features = dict(zip(FEATURES, operator_features(space, arch, shape), strict=True))
        flops = sum(value for key, value in features.items() if key.endswith("MFLOPs"))
        assert flops * 1e6 == pytest.approx(space.cost(arch, shape).flops)
        assert features["calls"] == 1 and features["linear operators"] > 0 and features["norm operators"] > 0
        doubled = dict(zip(FEATURES, operator_features(space, arch, shape, batch_size=2), strict=True))
        assert doubled["linear MFLOPs"] == 2 * features["linear MFLOPs"] and doubled["linear operators"] == features["linear operators"]
