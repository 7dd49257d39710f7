"""The ViT-ResNAS search space: sampling, neighbours, crossover, exact size, build and cost."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from functools import cached_property
from typing import TYPE_CHECKING, Any

from search_spaces.base import PLAIN_LEVELS, ImageTaskShape, PlainModel, SearchSpace, TaskShape, at_level, top_values
from search_spaces.tally import CostTally
from search_spaces.vit_resnas.arch import Block, Stage, VitResNASArch, parse_vit_resnas
from search_spaces.vit_resnas.choices import PRESETS, StageChoices, VitResNASChoices
from search_spaces.vit_resnas.cost import vit_resnas_cost
from search_spaces.vit_resnas.graph import vit_resnas_graph

if TYPE_CHECKING:
    import networkx as nx

    from search_spaces.vit_resnas.model import VitResNAS
    from search_spaces.vit_resnas.supernet import VitResNASSupernet

DEFAULT_TASKS = {
    "tiny": ImageTaskShape(channels=3, image_size=224, num_classes=1000),
    "small-images": ImageTaskShape(channels=1, image_size=8, num_classes=10),
}

Slots = list[Block | None]


def to_slots(stage: Stage, choices: StageChoices) -> Slots:
    """The stage's blocks placed in their supernet slots (None where a block is dropped)."""
    slots: Slots = [None] * choices.blocks
    for slot, block in zip(choices.active_slots(len(stage.blocks)), stage.blocks):
        slots[slot] = block
    return slots


class VitResNASSpace(SearchSpace[VitResNASArch, VitResNASChoices]):
    name = "vit-resnas"
    presets = PRESETS
    default_preset = "small-images"

    def validate(self, data: Any) -> VitResNASArch:
        return parse_vit_resnas(data, self.choices)

    def default_task(self) -> ImageTaskShape:
        return DEFAULT_TASKS.get(self.preset, ImageTaskShape())

    @cached_property
    def width_vectors(self) -> list[tuple[int, ...]]:
        """Every allowed combination of stage widths (widths never shrink across stages)."""
        options = itertools.product(*(s.widths for s in self.choices.stages))
        return [w for w in options if all(a <= b for a, b in zip(w, w[1:]))]

    # ---- sampling ----
    def sample(self, rng: random.Random) -> VitResNASArch:
        """Stage widths uniformly over the allowed combinations; per stage, depth uniformly, then
        every block's heads and MLP size uniformly."""
        if not self.width_vectors:
            raise ValueError("no combination of stage widths is non-decreasing: the space is empty")
        widths = rng.choice(self.width_vectors)
        stages = []
        for width, sc in zip(widths, self.choices.stages):
            depth = rng.choice(sc.depths)
            stages.append(Stage(width, sc.head_dim, tuple(self._sample_block(rng, sc) for _ in range(depth))))
        return VitResNASArch(tuple(stages))

    @staticmethod
    def _sample_block(rng: random.Random, sc: StageChoices) -> Block:
        return Block(heads=rng.choice(sc.heads), mlp=rng.choice(sc.mlp))

    # ---- neighbours ----
    def mutate(self, arch: VitResNASArch, rng: random.Random) -> VitResNASArch:
        """Change one decision: a stage width (within its neighbours' widths), a stage depth
        (a block slot switched on or off), or one block's heads or MLP size."""
        moves = [self._move_width, self._move_depth, self._move_block]
        rng.shuffle(moves)
        for move in moves:
            stages = move(list(arch.stages), rng)
            if stages is not None:
                return self.check(VitResNASArch(tuple(stages)))
        raise ValueError("this space has a single architecture: nothing to mutate")

    def _move_width(self, stages: list[Stage], rng: random.Random) -> list[Stage] | None:
        s = rng.randrange(len(stages))
        low = stages[s - 1].width if s else 0
        high = stages[s + 1].width if s + 1 < len(stages) else math.inf
        others = [w for w in self.choices.stages[s].widths if low <= w <= high and w != stages[s].width]
        if not others:
            return None
        stages[s] = Stage(rng.choice(others), stages[s].head_dim, stages[s].blocks)
        return stages

    def _move_depth(self, stages: list[Stage], rng: random.Random) -> list[Stage] | None:
        s = rng.randrange(len(stages))
        sc = self.choices.stages[s]
        others = [d for d in sc.depths if d != len(stages[s].blocks)]
        if not others:
            return None
        slots = to_slots(stages[s], sc)
        blocks = [slots[i] or self._sample_block(rng, sc) for i in sc.active_slots(rng.choice(others))]
        stages[s] = Stage(stages[s].width, stages[s].head_dim, tuple(blocks))
        return stages

    def _move_block(self, stages: list[Stage], rng: random.Random) -> list[Stage] | None:
        s = rng.randrange(len(stages))
        sc, stage = self.choices.stages[s], stages[s]
        b = rng.randrange(len(stage.blocks))
        block = stage.blocks[b]
        options = [Block(h, block.mlp) for h in sc.heads if h != block.heads] + [Block(block.heads, m) for m in sc.mlp if m != block.mlp]
        if not options:
            return None
        blocks = list(stage.blocks)
        blocks[b] = rng.choice(options)
        stages[s] = Stage(stage.width, stage.head_dim, tuple(blocks))
        return stages

    def crossover(self, a: VitResNASArch, b: VitResNASArch, rng: random.Random) -> VitResNASArch:
        """Stage widths from one parent (so they stay non-decreasing); per stage, the depth from a
        parent and each kept slot's block from a parent that uses that slot."""
        widths = [s.width for s in rng.choice([a, b]).stages]
        stages = []
        for s, sc in enumerate(self.choices.stages):
            slot_lists = [to_slots(p.stages[s], sc) for p in (a, b)]
            depth = len(rng.choice([a, b]).stages[s].blocks)
            blocks = [rng.choice([slots[i] for slots in slot_lists if slots[i] is not None]) for i in sc.active_slots(depth)]
            stages.append(Stage(widths[s], sc.head_dim, tuple(blocks)))
        return self.check(VitResNASArch(tuple(stages)))

    # ---- what an architecture is ----
    def to_graph(self, arch: VitResNASArch) -> nx.DiGraph:
        return vit_resnas_graph(arch)

    def features(self, arch: VitResNASArch) -> dict[str, float]:
        blocks = [block for stage in arch.stages for block in stage.blocks]
        return {
            "stages": len(arch.stages),
            "blocks": len(blocks),
            "first width": arch.stages[0].width,
            "last width": arch.stages[-1].width,
            "mean heads": sum(b.heads for b in blocks) / len(blocks),
            "mean mlp": sum(b.mlp for b in blocks) / len(blocks),
        }

    def build(self, arch: VitResNASArch, task: TaskShape | None = None) -> VitResNAS:
        from search_spaces.vit_resnas.model import VitResNAS  # torch loads on first build

        task = self._image_task(task)
        return VitResNAS(arch, task, self.choices.patch_for(task.image_size))

    def tally(self, arch: VitResNASArch, task: TaskShape | None = None) -> CostTally:
        task, tally = self._image_task(task), CostTally()
        vit_resnas_cost(arch, task, self.choices.patch_for(task.image_size), tally)
        return tally

    def supernet(self, task: TaskShape | None = None) -> VitResNASSupernet:
        from search_spaces.vit_resnas.supernet import VitResNASSupernet

        return VitResNASSupernet(self, self._image_task(task))

    def narrowed_choices(self, keep: float, largest: bool) -> VitResNASChoices:
        """Per stage: widths, heads, MLP sizes and depths cut. The narrowed choices are for
        sampling: their block slots are renumbered (the last ones optional), while supernets
        place blocks with the full space's slots."""
        stages = []
        for sc in self.choices.stages:
            depths = top_values(sc.depths, keep, largest)
            deepest, droppable = max(depths), max(depths) - min(depths)
            stages.append(
                StageChoices(
                    widths=top_values(sc.widths, keep, largest),
                    heads=top_values(sc.heads, keep, largest),
                    head_dim=sc.head_dim,
                    mlp=top_values(sc.mlp, keep, largest),
                    blocks=deepest,
                    optional=tuple(range(deepest - droppable + 1, deepest + 1)),
                )
            )
        return dataclasses.replace(self.choices, stages=tuple(stages))

    def plain_family(self) -> list[PlainModel]:
        """Width, heads and MLP widen together as DeiT scales (Touvron et al., 2021: Ti, S, B), and
        depth with them as BERT's small models scale (Turc et al., 2019), so that the family
        spreads over the space's sizes: every stage at one level of each choice."""
        family: list[PlainModel] = []
        for name, level in PLAIN_LEVELS:
            stages = [
                {
                    "width": at_level(c.widths, level), "head_dim": c.head_dim,
                    "blocks": [{"heads": at_level(c.heads, level), "mlp": at_level(c.mlp, level)}] * at_level(c.depths, level),
                }
                for c in self.choices.stages
            ]  # fmt: skip
            arch = self.validate({"stages": stages})
            if all(member.arch.arch_id != arch.arch_id for member in family):
                family.append(PlainModel(name, arch))
        return family

    def _image_task(self, task: TaskShape | None) -> ImageTaskShape:
        task = task or self.default_task()
        if not isinstance(task, ImageTaskShape):
            raise TypeError(f"task: ViT-ResNAS models take image tasks (ImageTaskShape), got {type(task).__name__}")
        return task

    def size(self) -> int:
        per_stage = [sum((len(sc.heads) * len(sc.mlp)) ** depth for depth in sc.depths) for sc in self.choices.stages]
        return len(self.width_vectors) * math.prod(per_stage)
