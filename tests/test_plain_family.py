"""Each space's plain family: homogeneous models scaled from the smallest choices to the largest,
what a user would pick without a search and what a job's front is compared with."""

from __future__ import annotations

import random

import pytest

from search_spaces import get_space
from search_spaces.base import PLAIN_LEVELS
from tests.helpers import ALL_PRESETS


@pytest.mark.parametrize(("space_name", "preset"), ALL_PRESETS)
def test_the_family_is_homogeneous_and_grows_in_size(space_name, preset):
    space = get_space(space_name, preset)
    family = space.plain_family()
    names = [member.name for member in family]
    assert names and names == [name for name, _ in PLAIN_LEVELS if name in names]  # smallest first, in level order
    sizes = [space.cost(member.arch).params for member in family]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), sizes
    assert all(space.contains(member.arch) for member in family)
    smallest, largest = space.extreme(random.Random(0), largest=False), space.extreme(random.Random(0), largest=True)
    assert sizes[0] >= space.cost(smallest).params and sizes[-1] <= space.cost(largest).params
    for member in family:
        data = member.arch.to_dict()
        if space_name == "flexibert":
            layers = data["layers"]
            assert all(layer == layers[0] for layer in layers)  # one layer, repeated
            ops = layers[0]["op"] if isinstance(layers[0]["op"], list) else [layers[0]["op"]]
            assert set(ops) <= {"sa-sdp"} or "sa-sdp" not in space.choices.ops
            assert len(layers[0]["ff"]) == min(space.choices.ff_layers)
        else:
            for stage in data["stages"]:
                assert all(block == stage["blocks"][0] for block in stage["blocks"])


def test_the_digits_family_reaches_below_a_million_parameters():
    """The digits space's family spreads over its sizes: depth scales with width, so its smallest
    member is far below the quickstart's 2 M limit (0.72 M), not only the full-depth models."""
    space = get_space("vit-resnas", "small-images")
    family = space.plain_family()
    sizes = {member.name: space.cost(member.arch).params for member in family}
    assert sizes["plain-XS"] < 1_000_000 and sum(size <= 2_000_000 for size in sizes.values()) >= 2
