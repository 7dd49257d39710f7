"""Malformed input gets an error naming the field path and what is allowed; never a traceback."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_spaces import ArchValidationError, get_space

GOOD_LAYER = {"hidden": 256, "heads": 4, "op": "sa-sdp", "ff": [1024]}


def problems_of(space, data) -> list[str]:
    with pytest.raises(ArchValidationError) as info:
        space.validate(data)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    "layer_patch, expected",
    [
        ({"heads": 3}, "layers[1].heads: 3 not in {2, 4}"),
        ({"hidden": 384}, "layers[1].hidden: 384 not in {128, 256}"),
        ({"hidden": "256"}, "layers[1].hidden: expected an integer, got str '256'"),
        ({"hidden": -128}, "layers[1].hidden: -128 must be a positive integer"),
        ({"hidden": 10**40}, "layers[1].hidden: 10000000000000000000000000000000000000000 not in {128, 256}"),
        ({"op": "sa-foo"}, "layers[1].op: 'sa-foo' not in {'dsc-5', 'dsc-9', 'lt-dct', 'lt-dft', 'sa-sdp', 'sa-wma'}"),
        ({"op": ["sa-sdp", "lt-dft", "sa-sdp", "sa-sdp"]}, "layers[1].op: heads of one layer must share one operation"),
        ({"ff": []}, "layers[1].ff: must not be empty"),
        ({"ff": [1024, 512]}, "layers[1].ff: length 2 not in {1, 3}"),
        ({"ff": [2048]}, "layers[1].ff[0]: 2048 not in {512, 1024}"),
        ({"ff": "1024"}, "layers[1].ff: expected a list, got str '1024'"),
        ({"colour": "red"}, "layers[1].colour: unknown field; allowed fields: {'ff', 'heads', 'hidden', 'op'}"),
    ],
)
def test_flexibert_errors_name_the_field_and_the_allowed_values(layer_patch, expected):
    space = get_space("flexibert", "flexibert")
    data = {"layers": [GOOD_LAYER, {**GOOD_LAYER, **layer_patch}]}
    problems = problems_of(space, data)
    assert any(p.startswith(expected) for p in problems), problems


def test_divisibility_error_outside_the_preset_bounds():
    space = get_space("flexibert", "flexibert", {"heads": [2, 3, 4]})
    problems = problems_of(space, {"layers": [GOOD_LAYER, {**GOOD_LAYER, "heads": 3}]})
    assert problems == ["layers[1].hidden: hidden=256 not divisible by heads=3"]


def test_every_problem_is_reported_at_once():
    space = get_space("flexibert", "nas-bench-bert")
    data = {"layers": [{**GOOD_LAYER, "heads": 8}, {**GOOD_LAYER, "hidden": 128, "ff": [7]}, GOOD_LAYER], "x": 1}
    problems = problems_of(space, data)
    assert "x: unknown field; allowed fields: {'layers'}" in problems
    assert "layers: length 3 not in {2, 4}" in problems
    assert "layers[0].heads: 8 not in {2, 4}" in problems
    assert "layers[1].ff[0]: 7 not in {512, 1024}" in problems


@pytest.mark.parametrize(
    "data, expected",
    [
        ({}, "layers: missing required field"),
        ({"layers": []}, "layers: must not be empty"),
        ([], "expected an object, got list"),
        (None, "expected an object, got NoneType"),
        ({"layers": [None, GOOD_LAYER]}, "layers[0]: expected an object, got NoneType"),
        ({"layers": [{}, GOOD_LAYER]}, "layers[0].hidden: missing required field"),
    ],
)
def test_structural_errors(data, expected):
    problems = problems_of(get_space("flexibert"), data)
    assert any(expected in p for p in problems), problems


def test_same_hidden_preset_points_at_the_layer():
    problems = problems_of(get_space("flexibert", "nas-bench-bert"), {"layers": [GOOD_LAYER, {**GOOD_LAYER, "hidden": 128}]})
    assert problems[0].startswith("layers[1].hidden: 128 differs from layers[0].hidden=256")


@pytest.mark.parametrize(
    "stage_patch, expected",
    [
        ({"width": 100}, "stages[1].width: 100 not in {64, 80, 96, 112, 128}"),
        ({"head_dim": 16}, "stages[1].head_dim: 16 not in {12}"),
        ({"blocks": [{"heads": 6, "mlp": 192}] * 2}, "stages[1].blocks: 2 blocks not in {3, 4, 5, 6}"),
        ({"blocks": [None] + [{"heads": 6, "mlp": 192}] * 5}, "stages[1].blocks: block(s) [1] cannot be dropped"),
        ({"blocks": [{"heads": 7, "mlp": 192}] * 3}, "stages[1].blocks[0].heads: 7 not in {6, 8, 10, 12}"),
        ({"blocks": [{"heads": 6, "mlp": 200}] * 3}, "stages[1].blocks[0].mlp: 200 not in {192, 224, 256, 288, 320, 352, 384}"),
    ],
)
def test_vit_errors_name_the_field_and_the_allowed_values(stage_patch, expected):
    space = get_space("vit-resnas", "small-images")
    stages = [
        {"width": 64, "blocks": [{"heads": 3, "mlp": 96}] * 3},
        {"width": 128, "blocks": [{"heads": 6, "mlp": 192}] * 3},
        {"width": 256, "blocks": [{"heads": 6, "mlp": 384}] * 3},
    ]
    stages[1] = {**stages[1], **stage_patch}
    problems = problems_of(space, {"stages": stages})
    assert any(p.startswith(expected) for p in problems), problems


def test_vit_widths_must_not_shrink():
    space = get_space("vit-resnas", "small-images", {"stages": [{"widths": [16, 32], "heads": [1], "head_dim": 4, "mlp": [8], "blocks": 1, "optional": []}] * 2})
    problems = problems_of(space, {"stages": [{"width": 32, "blocks": [{"heads": 1, "mlp": 8}]}, {"width": 16, "blocks": [{"heads": 1, "mlp": 8}]}]})
    assert problems == ["stages[1].width: 16 < stages[0].width=32; widths never shrink across stages"]


def test_bad_overrides_and_names():
    with pytest.raises(ArchValidationError, match="unknown choice"):
        get_space("flexibert", overrides={"depth": [2]})
    with pytest.raises(ArchValidationError, match="heads"):
        get_space("flexibert", overrides={"heads": []})
    with pytest.raises(ArchValidationError, match="divisible by none"):
        get_space("flexibert", overrides={"hidden": [129]})
    with pytest.raises(ValueError, match="preset: 'big' not in"):
        get_space("flexibert", "big")
    with pytest.raises(ValueError, match="space: 'bert' not in"):
        get_space("bert")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.sampled_from(["layers", "stages", "hidden", "heads", "op", "ff", "width", "blocks", "mlp", "head_dim", "x"]), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_is_either_valid_or_a_clear_error(data):
    for space in (get_space("flexibert", "flexibert-2"), get_space("vit-resnas", "small-images")):
        try:
            arch = space.validate(data)
        except ArchValidationError as err:
            assert err.problems and all(p.message for p in err.problems)
        else:
            assert space.validate(json.loads(arch.to_json())) == arch


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_perturbed_valid_archs_never_crash(data):
    """Take a valid arch and replace one leaf with junk: still a valid arch or a clear error."""
    space = get_space("flexibert", "flexibert")
    arch = space.validate({"layers": [GOOD_LAYER, {**GOOD_LAYER, "ff": [512, 512, 1024]}]}).to_dict()
    layer = data.draw(st.integers(0, 1))
    key = data.draw(st.sampled_from(["hidden", "heads", "op", "ff"]))
    arch["layers"][layer][key] = data.draw(json_values)
    try:
        space.validate(arch)
    except ArchValidationError as err:
        assert any(str(p).startswith(f"layers[{layer}]") for p in err.problems)
