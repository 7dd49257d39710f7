"""size() against brute-force enumeration of every encoding of tiny configurations."""

from __future__ import annotations

import itertools

import pytest

from search_spaces import ArchValidationError, get_space


def flexibert_encodings(c):
    """Every raw encoding (including every order of per-head operations)."""
    def layer_options(hidden):
        for heads in c.heads:
            op_lists = itertools.product(c.ops, repeat=heads) if c.mixed_ops else ([op] * heads for op in c.ops)
            for ops in op_lists:
                for count in c.ff_layers:
                    stacks = ([d] * count for d in c.ff_dims) if c.same_ff_dim else itertools.product(c.ff_dims, repeat=count)
                    for ff in stacks:
                        yield {"hidden": hidden, "heads": heads, "op": list(ops), "ff": list(ff)}

    for depth in c.num_layers:
        hiddens = [(h,) * depth for h in c.hidden] if c.same_hidden else itertools.product(c.hidden, repeat=depth)
        for hidden_per_layer in hiddens:
            for layers in itertools.product(*(list(layer_options(h)) for h in hidden_per_layer)):
                yield {"layers": list(layers)}


def distinct_ids(space, encodings):
    ids = set()
    for data in encodings:
        try:
            ids.add(space.validate(data).arch_id)
        except ArchValidationError:
            pass  # e.g. hidden not divisible by heads
    return ids


@pytest.mark.parametrize("mixed_ops", [False, True])
@pytest.mark.parametrize("same_hidden", [False, True])
@pytest.mark.parametrize("same_ff_dim", [False, True])
def test_flexibert_size_matches_enumeration(mixed_ops, same_hidden, same_ff_dim):
    space = get_space(
        "flexibert",
        "flexibert",
        {
            "num_layers": [1, 2],
            "hidden": [4, 6],
            "heads": [2, 3],
            "ops": ["sa-sdp", "lt-dct", "dsc-3"],
            "ff_dims": [8, 16],
            "ff_layers": [1, 2],
            "mixed_ops": mixed_ops,
            "same_hidden": same_hidden,
            "same_ff_dim": same_ff_dim,
        },
    )
    assert len(distinct_ids(space, flexibert_encodings(space.choices))) == space.size()


def vit_encodings(choices):
    """Every raw encoding, including null-slot forms that drop any subset of optional blocks."""
    def stage_options(sc):
        for width in sc.widths:
            for kept in itertools.product(*([True, False] if i + 1 in sc.optional else [True] for i in range(sc.blocks))):
                for configs in itertools.product(itertools.product(sc.heads, sc.mlp), repeat=sum(kept)):
                    it = iter(configs)
                    yield {"width": width, "blocks": [dict(zip(("heads", "mlp"), next(it))) if k else None for k in kept]}

    yield from ({"stages": list(stages)} for stages in itertools.product(*(list(stage_options(sc)) for sc in choices.stages)))


def test_vit_size_matches_enumeration():
    stage = {"widths": [8, 16], "heads": [1, 2], "head_dim": 4, "mlp": [8], "blocks": 3, "optional": [2, 3]}
    space = get_space("vit-resnas", "small-images", {"stages": [stage, {**stage, "widths": [8, 16, 24]}]})
    # widths (8,8) (8,16) (8,24) (16,16) (16,24): 5 combinations; per stage 2 + 4 + 8 block choices.
    assert space.size() == 5 * 14 * 14
    assert len(distinct_ids(space, vit_encodings(space.choices))) == space.size()


def test_preset_sizes():
    assert get_space("flexibert", "flexibert").size() == 240**2 + 240**4
    assert get_space("flexibert", "nas-bench-bert").size() == 2 * (48**2 + 48**4)
    assert get_space("vit-resnas", "tiny").size() == get_space("vit-resnas", "small-images").size()
