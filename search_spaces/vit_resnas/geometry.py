"""Token-grid sizes of a ViT-ResNAS network (shared by the model and its analytic cost)."""

from __future__ import annotations

import math

from search_spaces.base import ImageTaskShape
from search_spaces.vit_resnas.arch import VitResNASArch


def reduced(side: int) -> int:
    """Token-grid side after a spatial reduction (3x3 stride-2 conv with padding 1 = 2x2 ceil pooling)."""
    return math.ceil(side / 2)


def grid_sides(arch: VitResNASArch, task: ImageTaskShape, patch: int) -> list[int]:
    """Token-grid side of every stage."""
    if task.image_size < patch:
        raise ValueError(f"image_size {task.image_size} is smaller than the patch size {patch}")
    sides = [task.image_size // patch]
    for _ in arch.stages[1:]:
        sides.append(reduced(sides[-1]))
    return sides
