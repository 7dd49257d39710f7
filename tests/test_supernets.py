"""Supernets: extraction parity, real weight sharing, clean standalone models."""

from __future__ import annotations

import random

import pytest
import torch

from search_spaces import ImageTaskShape, TextTaskShape, get_space
from search_spaces.supernet import parity_max_abs_diff
from tests.helpers import ALL_PRESETS

# Small inputs: parity is about which weights are used, not about input size.
TASKS = {"flexibert": TextTaskShape(vocab_size=120, max_len=12, num_classes=3), "vit-resnas": ImageTaskShape(channels=3, image_size=16, num_classes=5)}


def example(task, batch: int = 2) -> torch.Tensor:
    if isinstance(task, TextTaskShape):
        ids = torch.randint(1, task.vocab_size, (batch, task.max_len))
        ids[-1, task.max_len // 2 :] = 0  # padding
        return ids
    return torch.randn(batch, task.channels, task.image_size, task.image_size)


@pytest.mark.parametrize("name, preset", ALL_PRESETS, ids=[f"{n}:{p}" for n, p in ALL_PRESETS])
def test_extracted_models_match_the_supernet(name, preset):
    """50 random archs per preset: standalone(x) == supernet(x, arch) in eval mode, and the
    standalone model has exactly the parameters the analytic cost counts (nothing dead)."""
    space = get_space(name, preset)
    task = TASKS[name] if preset != "tiny" else ImageTaskShape(3, 32, 5)
    torch.manual_seed(0)
    supernet = space.supernet(task)
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(50)]
    assert parity_max_abs_diff(supernet, archs, example(task)) <= 1e-5
    for arch in archs[:10]:
        assert sum(p.numel() for p in supernet.extract(arch).parameters()) == space.cost(arch, task).params


def test_subnets_share_weights():
    space = get_space("flexibert", "flexibert")
    task = TASKS["flexibert"]
    supernet = space.supernet(task)
    small = space.validate({"layers": [{"hidden": 128, "heads": 2, "op": "sa-sdp", "ff": [512]}] * 2})
    large = space.validate({"layers": [{"hidden": 256, "heads": 4, "op": "sa-sdp", "ff": [1024]}] * 2})
    x = example(task)
    before_small, before_large = supernet.extract(small).eval()(x), supernet.extract(large).eval()(x)
    with torch.no_grad():  # the small subnet's qkv rows are the first rows of the large one's
        supernet.layers[0].ops["sa-sdp"]["qkv_weight"][:, :8, :8] += 1.0
    after_small, after_large = supernet.extract(small).eval()(x), supernet.extract(large).eval()(x)
    assert not torch.allclose(before_small, after_small)
    assert not torch.allclose(before_large, after_large)


def test_training_a_subnet_updates_only_its_slices():
    space = get_space("flexibert", "flexibert")
    task = TASKS["flexibert"]
    supernet = space.supernet(task).train()
    arch = space.validate({"layers": [{"hidden": 128, "heads": 2, "op": "lt-dct", "ff": [512]}, {"hidden": 256, "heads": 4, "op": "dsc-5", "ff": [512, 1024, 512]}]})
    torch.nn.functional.cross_entropy(supernet(example(task), arch), torch.tensor([0, 1])).backward()
    layer0, layer1 = supernet.layers[0], supernet.layers[1]
    value_grad = layer0.ops["lt-dct"]["value_weight"].grad
    assert value_grad[:128, :128].abs().sum() > 0 and value_grad[128:].abs().sum() == 0 and value_grad[:, 128:].abs().sum() == 0
    assert layer0.ops["sa-sdp"]["qkv_weight"].grad is None  # operation not in the subnet
    assert layer1.input_proj_weight.grad[:, 128:].abs().sum() == 0  # 128 -> 256 projection
    assert layer1.ff_mid_weight[0].grad[:, :512].abs().sum() > 0  # second FF layer: 512 -> 1024
    assert supernet.layers[2].norm1_weight.grad is None  # layer 3 unused by a 2-layer subnet


def test_vit_depth_uses_the_canonical_slots():
    space = get_space("vit-resnas", "small-images")
    supernet = space.supernet(ImageTaskShape(1, 8, 10))
    stage = {"width": 32, "blocks": [{"heads": 3, "mlp": 96}] * 3}
    arch = space.validate({"stages": [stage, {"width": 64, "blocks": [{"heads": 6, "mlp": 192}] * 3}, {"width": 128, "blocks": [{"heads": 6, "mlp": 384}] * 3}]})
    supernet(torch.randn(2, 1, 8, 8), arch).sum().backward()
    used = [slot for slot, block in enumerate(supernet.blocks[0]) if block.qkv_weight.grad is not None]
    assert used == [0, 2, 4]  # depth 3 drops the optional blocks 2, 4, 6
    assert len(supernet.extract(arch).stages[0]) == 3


def test_supernet_rejects_archs_outside_its_space():
    space = get_space("flexibert", "nas-bench-bert")
    supernet = space.supernet(TASKS["flexibert"])
    outside = get_space("flexibert", "flexibert").validate({"layers": [{"hidden": 128, "heads": 2, "op": "sa-sdp", "ff": [512]}, {"hidden": 256, "heads": 2, "op": "sa-sdp", "ff": [512]}]})
    with pytest.raises(ValueError, match="same_hidden"):
        supernet(example(TASKS["flexibert"]), outside)


def test_mlm_logits_use_the_shared_encoder():
    space = get_space("flexibert", "nas-bench-bert")
    task = TASKS["flexibert"]
    supernet = space.supernet(task)
    arch = space.sample(random.Random(1))
    ids = example(task)
    logits = supernet.mlm_logits(ids, arch)
    assert logits.shape == (2, task.max_len, task.vocab_size)
    logits.sum().backward()
    assert supernet.layers[0].norm1_weight.grad is not None and supernet.mlm_decoder_weight.grad is not None
