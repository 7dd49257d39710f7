"""Analytic cost against the built models, and the behaviour of the fixed transforms."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import scipy.fft
import torch
from torch.utils.flop_counter import FlopCounterMode

from search_spaces import ImageTaskShape, TextTaskShape, get_space
from search_spaces.flexibert.model import LinearTransformHeads, linear_transform_heads

TEXT_TASK = TextTaskShape(vocab_size=500, max_len=24, num_classes=3)
TASKS = {
    "flexibert": [TEXT_TASK, TextTaskShape(vocab_size=30522, max_len=128, num_classes=2)],
    "vit-resnas": [ImageTaskShape(1, 8, 10), ImageTaskShape(1, 28, 10), ImageTaskShape(3, 32, 100)],
}


def _fused_attention_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    """The CPU's fused attention kernel, which FlopCounterMode does not count: two batched
    products, (s_q x d) by (d x s_k) and (s_q x s_k) by (s_k x d_v), per batch and head."""
    *batch, s_q, d = query_shape
    s_k, d_v = key_shape[-2], value_shape[-1]
    return 2 * math.prod(batch) * s_q * s_k * (d + d_v)


FUSED_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _fused_attention_flops}


def measured(model: torch.nn.Module, example: torch.Tensor) -> tuple[int, int]:
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=FUSED_ATTENTION) as counter:
        model(example)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops()


def example_for(task) -> torch.Tensor:
    if isinstance(task, TextTaskShape):
        return torch.randint(1, task.vocab_size, (1, task.max_len))
    return torch.randn(1, task.channels, task.image_size, task.image_size)


@pytest.mark.parametrize("seed", range(4))
def test_analytic_cost_matches_built_model(space, seed):
    rng = random.Random(seed)
    arch = space.sample(rng)
    tasks = TASKS[space.name] if space.preset != "tiny" else [space.default_task()]
    if space.preset == "flexibert-2":
        tasks = [TEXT_TASK]  # up to 12 layers of width 768: keep the inputs small
    for task in tasks:
        params, flops = measured(space.build(arch, task), example_for(task))
        cost = space.cost(arch, task)
        assert cost.params == params, (arch.to_dict(), task)
        assert abs(cost.flops - flops) <= 0.02 * flops, (arch.to_dict(), task)


def test_cost_grows_with_the_architecture():
    space = get_space("flexibert", "nas-bench-bert")
    small = space.validate({"layers": [{"hidden": 128, "heads": 2, "op": "lt-dft", "ff": [512]}] * 2})
    large = space.validate({"layers": [{"hidden": 256, "heads": 4, "op": "sa-wma", "ff": [1024] * 3}] * 4})
    assert space.cost(small).params < space.cost(large).params
    assert space.cost(small).flops < space.cost(large).flops


def test_flexibert_forward_on_every_operation_with_padding():
    space = get_space("flexibert", "flexibert-2")
    arch = space.validate(
        {
            "layers": [
                {"hidden": 128, "heads": 4, "op": ["sa-sdp", "sa-wma", "lt-dft", "lt-dct"], "ff": [512]},
                {"hidden": 256, "heads": 2, "op": ["dsc-5", "dsc-9"], "ff": [1024, 512]},
            ]
        }
    )
    model = space.build(arch, TEXT_TASK).eval()
    ids = torch.randint(1, 500, (3, 24))
    ids[0, 10:] = 0  # padding
    logits = model(ids)
    assert logits.shape == (3, 3) and torch.isfinite(logits).all()
    loss = torch.nn.functional.cross_entropy(model.train()(ids), torch.tensor([0, 1, 2]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad and p is not model.encoder.token_embedding.weight)


def test_linear_transform_heads_are_the_real_2d_dft_and_the_2d_dct():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 16)
    mask = torch.ones(2, 12, dtype=torch.bool)
    for transform in ("dft", "dct"):
        heads = LinearTransformHeads(hidden=16, heads=2, head_dim=8)
        out = linear_transform_heads(x, mask, dict(heads.named_parameters()), "", 2, 8, transform).view(2, 12, 2, 8).transpose(1, 2)
        v = heads.value(x).view(2, 12, 2, 8).transpose(1, 2).detach().double().numpy()
        if transform == "dft":
            expected = np.real(np.fft.fft2(v, axes=(-2, -1))) / math.sqrt(12 * 8)
        else:
            expected = scipy.fft.dctn(v, type=2, axes=(-2, -1), norm="ortho")
        np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-5)


def test_vit_dropped_blocks_have_no_parameters():
    space = get_space("vit-resnas", "small-images")
    full = space.validate({"stages": [{"width": 32, "blocks": [{"heads": 3, "mlp": 96}] * 6}, {"width": 64, "blocks": [{"heads": 6, "mlp": 192}] * 6}, {"width": 128, "blocks": [{"heads": 6, "mlp": 384}] * 6}]})
    dropped = space.validate({"stages": [{"width": 32, "blocks": [{"heads": 3, "mlp": 96}, None, {"heads": 3, "mlp": 96}, None, {"heads": 3, "mlp": 96}, None]}, {"width": 64, "blocks": [{"heads": 6, "mlp": 192}] * 6}, {"width": 128, "blocks": [{"heads": 6, "mlp": 384}] * 6}]})
    model_full, model_dropped = space.build(full), space.build(dropped)
    assert len(model_dropped.stages[0]) == 3 and len(model_full.stages[0]) == 6
    per_block = sum(p.numel() for p in model_full.stages[0][0].parameters())
    assert sum(p.numel() for p in model_full.parameters()) - sum(p.numel() for p in model_dropped.parameters()) == 3 * per_block


def test_vit_forward_backward_and_shape_errors():
    space = get_space("vit-resnas", "small-images")
    task = ImageTaskShape(1, 28, 10)
    model = space.build(space.sample(random.Random(0)), task)
    images = torch.randn(4, 1, 28, 28)
    logits = model(images)
    assert logits.shape == (4, 10)
    logits.sum().backward()
    with pytest.raises(ValueError, match="expected shape"):
        model(torch.randn(4, 1, 8, 8))


def test_wrong_task_kind_is_rejected():
    with pytest.raises(TypeError, match="text tasks"):
        get_space("flexibert").cost(get_space("flexibert").sample(random.Random(0)), ImageTaskShape())
    with pytest.raises(TypeError, match="image tasks"):
        get_space("vit-resnas").build(get_space("vit-resnas").sample(random.Random(0)), TextTaskShape())


def test_masked_lm_head_shares_the_classifier_encoder():
    from search_spaces.flexibert.model import FlexiBertForMaskedLM

    space = get_space("flexibert", "flexibert")
    classifier = space.build(space.sample(random.Random(4)), TEXT_TASK)
    mlm = FlexiBertForMaskedLM(classifier.encoder, TEXT_TASK.vocab_size)
    ids = torch.randint(1, 500, (2, 24))
    logits = mlm(ids)
    assert logits.shape == (2, 24, 500)
    before = classifier.encoder.token_embedding.weight.detach().clone()
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten()).backward()
    torch.optim.SGD(mlm.parameters(), lr=1.0).step()
    assert not torch.equal(before, classifier.encoder.token_embedding.weight)  # pretraining moves the shared encoder
