"""Analytic parameters and FLOPs of a ViT-ResNAS classifier (mirrors `model.py` piece by piece)."""

from __future__ import annotations

from search_spaces.base import Cost, ImageTaskShape
from search_spaces.tally import CostTally
from search_spaces.vit_resnas.arch import VitResNASArch
from search_spaces.vit_resnas.geometry import grid_sides, reduced


def vit_resnas_cost(arch: VitResNASArch, task: ImageTaskShape, patch: int, tally: CostTally | None = None) -> Cost:
    """The cost, added piece by piece to `tally` (a fresh one when None)."""
    tally = tally or CostTally()
    sides = grid_sides(arch, task, patch)
    w0 = arch.stages[0].width
    tally.conv(task.channels, w0 // 2, 3 * 3, task.image_size**2)
    tally.conv(w0 // 2, w0, patch * patch, sides[0] ** 2)
    tally.add_params(w0 + (1 + sides[0] ** 2) * w0)  # class token, position embedding
    for i, (stage, side) in enumerate(zip(arch.stages, sides)):
        if i:
            prev = arch.stages[i - 1].width
            tally.norm(prev, tokens=1 + sides[i - 1] ** 2)
            tally.conv(prev, stage.width, 3 * 3, reduced(sides[i - 1]) ** 2)
            tally.linear(prev, stage.width, tokens=1)  # class token
            tally.add_params((1 + side * side) * stage.width)  # new position embedding
        tokens = 1 + side * side
        for block in stage.blocks:
            inner = block.heads * stage.head_dim
            tally.norm(stage.width, tokens)
            tally.linear(stage.width, 3 * inner, tokens)
            tally.matmul(tokens, stage.head_dim, tokens, batch=block.heads)
            tally.matmul(tokens, tokens, stage.head_dim, batch=block.heads)
            tally.linear(inner, stage.width, tokens)
            tally.norm(stage.width, tokens)
            tally.linear(stage.width, block.mlp, tokens)
            tally.linear(block.mlp, stage.width, tokens)
    width = arch.stages[-1].width
    tally.norm(width)  # the class token only
    tally.linear(width, task.num_classes, tokens=1)
    return tally.result()
