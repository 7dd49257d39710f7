"""Property tests: sampled architectures round-trip, and the search operators stay in the space."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search_spaces import get_space
from tests.helpers import ALL_PRESETS

SPACES = {f"{name}:{preset}": get_space(name, preset) for name, preset in ALL_PRESETS}
seeds = st.integers(min_value=0, max_value=2**32 - 1)
space_keys = st.sampled_from(sorted(SPACES))
fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(space_keys, seeds)
def test_sample_validate_json_roundtrip_keeps_id(key, seed):
    space = SPACES[key]
    arch = space.sample(random.Random(seed))
    again = space.validate(json.loads(arch.to_json()))
    assert again == arch
    assert again.arch_id == arch.arch_id
    assert again.to_json() == arch.to_json()
    assert space.from_json(json.dumps(arch.to_dict(), indent=2)).arch_id == arch.arch_id


@fast
@given(space_keys, seeds)
def test_sampling_is_deterministic_per_seed(key, seed):
    space = SPACES[key]
    assert space.sample(random.Random(seed)) == space.sample(random.Random(seed))


@fast
@given(space_keys, seeds)
def test_mutation_gives_a_different_valid_arch(key, seed):
    space = SPACES[key]
    rng = random.Random(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    assert child.arch_id != arch.arch_id
    assert space.contains(child)


@fast
@given(space_keys, seeds)
def test_crossover_gives_a_valid_arch_made_of_parent_parts(key, seed):
    space = SPACES[key]
    rng = random.Random(seed)
    a, b = space.sample(rng), space.sample(rng)
    child = space.crossover(a, b, rng)
    assert space.contains(child)
    assert space.crossover(a, a, rng) == a  # nothing to mix: the child is the parent


def test_mutation_chain_explores_the_space():
    space = get_space("flexibert", "nas-bench-bert")
    rng = random.Random(0)
    arch = space.sample(rng)
    seen = {arch.arch_id}
    for _ in range(300):
        arch = space.mutate(arch, rng)
        seen.add(arch.arch_id)
    assert len(seen) > 200
    assert len(arch.layers) in space.choices.num_layers


def test_samples_cover_every_choice():
    space = get_space("flexibert", "flexibert-2")
    rng = random.Random(1)
    archs = [space.sample(rng) for _ in range(400)]
    layers = [layer for a in archs for layer in a.layers]
    assert {len(a.layers) for a in archs} == set(space.choices.num_layers)
    assert {layer.hidden for layer in layers} == set(space.choices.hidden)
    assert {op for layer in layers for op in layer.ops} == set(space.choices.ops)
    assert any(len(set(layer.ops)) > 1 for layer in layers)  # mixed-operation heads occur
    assert {d for layer in layers for d in layer.ff} == set(space.choices.ff_dims)


def test_nas_bench_bert_preset_keeps_one_hidden_and_one_ff_width():
    space = get_space("flexibert", "nas-bench-bert")
    rng = random.Random(2)
    for _ in range(200):
        arch = space.mutate(space.sample(rng), rng)
        assert len({layer.hidden for layer in arch.layers}) == 1
        assert all(len(set(layer.ff)) == 1 and len(set(layer.ops)) == 1 for layer in arch.layers)


def test_vit_widths_never_shrink_under_mutation():
    space = get_space("vit-resnas", "small-images", {"stages": [
        {"widths": [32, 64], "heads": [1, 2], "head_dim": 8, "mlp": [32], "blocks": 2, "optional": [2]},
        {"widths": [32, 64], "heads": [1, 2], "head_dim": 8, "mlp": [32], "blocks": 2, "optional": [2]},
    ]})
    rng = random.Random(3)
    arch = space.sample(rng)
    for _ in range(200):
        arch = space.mutate(arch, rng)
        widths = [s.width for s in arch.stages]
        assert widths == sorted(widths)
