"""The FlexiBERT search space: sampling, neighbours, crossover, exact size, build and cost."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from search_spaces.base import PlainModel, SearchSpace, TaskShape, TextTaskShape, at_level, named_by_size, top_values
from search_spaces.flexibert.arch import FlexiBertArch, Layer, parse_flexibert
from search_spaces.flexibert.choices import PRESETS, FlexiBertChoices
from search_spaces.flexibert.cost import flexibert_cost
from search_spaces.flexibert.graph import flexibert_graph
from search_spaces.tally import CostTally

if TYPE_CHECKING:
    import networkx as nx

    from search_spaces.flexibert.model import FlexiBertClassifier
    from search_spaces.flexibert.supernet import FlexiBertSupernet

Move = Callable[[list[Layer], random.Random], list[Layer] | None]


class FlexiBertSpace(SearchSpace[FlexiBertArch, FlexiBertChoices]):
    name = "flexibert"
    presets = PRESETS
    default_preset = "flexibert"

    def validate(self, data: Any) -> FlexiBertArch:
        return parse_flexibert(data, self.choices)

    def default_task(self) -> TextTaskShape:
        return TextTaskShape()

    # ---- sampling ----
    def sample(self, rng: random.Random) -> FlexiBertArch:
        """Depth uniformly, then every layer's decisions uniformly (per head when ops mix)."""
        c = self.choices
        depth = rng.choice(c.num_layers)
        shared_hidden = rng.choice(c.hidden) if c.same_hidden else None
        return FlexiBertArch(tuple(self._sample_layer(rng, shared_hidden) for _ in range(depth)))

    def _sample_layer(self, rng: random.Random, hidden: int | None = None) -> Layer:
        h = hidden if hidden is not None else rng.choice(self.choices.hidden)
        heads = rng.choice(self.choices.heads_for(h))
        return Layer(hidden=h, ops=self._sample_ops(rng, heads), ff=self._sample_ff(rng, rng.choice(self.choices.ff_layers)))

    def _sample_ops(self, rng: random.Random, heads: int, keep: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Operations for `heads` heads, reusing `keep` where possible."""
        if not self.choices.mixed_ops:
            op = keep[0] if keep else rng.choice(self.choices.ops)
            return (op,) * heads
        kept = list(keep[:heads])
        return tuple(kept + [rng.choice(self.choices.ops) for _ in range(heads - len(kept))])

    def _sample_ff(self, rng: random.Random, count: int, keep: tuple[int, ...] = ()) -> tuple[int, ...]:
        if self.choices.same_ff_dim:
            return ((keep[0] if keep else rng.choice(self.choices.ff_dims)),) * count
        kept = list(keep[:count])
        return tuple(kept + [rng.choice(self.choices.ff_dims) for _ in range(count - len(kept))])

    def _with_hidden(self, layer: Layer, hidden: int, rng: random.Random) -> Layer:
        """`layer` at a new hidden size, changing its head count only if it no longer divides."""
        heads = layer.heads if hidden % layer.heads == 0 and layer.heads in self.choices.heads else rng.choice(self.choices.heads_for(hidden))
        return Layer(hidden=hidden, ops=self._sample_ops(rng, heads, layer.ops), ff=layer.ff)

    # ---- neighbours ----
    def mutate(self, arch: FlexiBertArch, rng: random.Random) -> FlexiBertArch:
        """Change one decision (depth, a hidden size, a head count, an operation, an FF depth or
        width), adjusting only what that change forces (e.g. heads that no longer divide)."""
        moves: list[Move] = [self._move_depth, self._move_hidden, self._move_heads, self._move_op, self._move_ff_layers, self._move_ff_dim]
        layers = list(arch.layers)
        rng.shuffle(moves)
        for move in moves:
            changed = move(layers, rng)
            if changed is not None:
                return self.check(FlexiBertArch(tuple(changed)))
        raise ValueError("this space has a single architecture: nothing to mutate")

    def _move_depth(self, layers: list[Layer], rng: random.Random) -> list[Layer] | None:
        others = [n for n in self.choices.num_layers if n != len(layers)]
        if not others:
            return None
        depth = rng.choice(others)
        hidden = layers[0].hidden if self.choices.same_hidden else None
        return layers[:depth] + [self._sample_layer(rng, hidden) for _ in range(depth - len(layers))]

    def _move_hidden(self, layers: list[Layer], rng: random.Random) -> list[Layer] | None:
        i = rng.randrange(len(layers))
        others = [h for h in self.choices.hidden if h != layers[i].hidden]
        if not others:
            return None
        hidden = rng.choice(others)
        targets = range(len(layers)) if self.choices.same_hidden else [i]
        return [self._with_hidden(layer, hidden, rng) if j in targets else layer for j, layer in enumerate(layers)]

    def _move_heads(self, layers: list[Layer], rng: random.Random) -> list[Layer] | None:
        i = rng.randrange(len(layers))
        layer = layers[i]
        others = [n for n in self.choices.heads_for(layer.hidden) if n != layer.heads]
        if not others:
            return None
        heads = rng.choice(others)
        return _replace(layers, i, Layer(layer.hidden, self._sample_ops(rng, heads, layer.ops), layer.ff))

    def _move_op(self, layers: list[Layer], rng: random.Random) -> list[Layer] | None:
        i = rng.randrange(len(layers))
        layer = layers[i]
        j = rng.randrange(layer.heads) if self.choices.mixed_ops else 0
        others = [op for op in self.choices.ops if op != layer.ops[j]]
        if not others:
            return None
        op = rng.choice(others)
        ops = list(layer.ops)
        if self.choices.mixed_ops:
            ops[j] = op
        else:
            ops = [op] * layer.heads
        return _replace(layers, i, Layer(layer.hidden, tuple(ops), layer.ff))

    def _move_ff_layers(self, layers: list[Layer], rng: random.Random) -> list[Layer] | None:
        i = rng.randrange(len(layers))
        layer = layers[i]
        others = [n for n in self.choices.ff_layers if n != len(layer.ff)]
        if not others:
            return None
        return _replace(layers, i, Layer(layer.hidden, layer.ops, self._sample_ff(rng, rng.choice(others), layer.ff)))

    def _move_ff_dim(self, layers: list[Layer], rng: random.Random) -> list[Layer] | None:
        i = rng.randrange(len(layers))
        layer = layers[i]
        j = 0 if self.choices.same_ff_dim else rng.randrange(len(layer.ff))
        others = [d for d in self.choices.ff_dims if d != layer.ff[j]]
        if not others:
            return None
        dim = rng.choice(others)
        ff = [dim] * len(layer.ff) if self.choices.same_ff_dim else [*layer.ff[:j], dim, *layer.ff[j + 1 :]]
        return _replace(layers, i, Layer(layer.hidden, layer.ops, tuple(ff)))

    def crossover(self, a: FlexiBertArch, b: FlexiBertArch, rng: random.Random) -> FlexiBertArch:
        """Depth from one parent; per layer position, the attention part (hidden, heads,
        operations) and the FF stack each from a parent that has that layer."""
        depth = rng.choice([len(a.layers), len(b.layers)])
        shared_hidden = rng.choice([a, b]).layers[0].hidden if self.choices.same_hidden else None
        layers = []
        for i in range(depth):
            present = [p.layers[i] for p in (a, b) if i < len(p.layers)]
            attention, ff = rng.choice(present), rng.choice(present)
            layer = Layer(attention.hidden, attention.ops, ff.ff)
            if shared_hidden is not None and layer.hidden != shared_hidden:
                layer = self._with_hidden(layer, shared_hidden, rng)
            layers.append(layer)
        return self.check(FlexiBertArch(tuple(layers)))

    # ---- what an architecture is ----
    def to_graph(self, arch: FlexiBertArch) -> nx.DiGraph:
        return flexibert_graph(arch)

    def features(self, arch: FlexiBertArch) -> dict[str, float]:
        layers = arch.layers
        heads = [op.split("-", 1)[0] for layer in layers for op in layer.ops]
        return {
            "layers": len(layers),
            "mean hidden": sum(layer.hidden for layer in layers) / len(layers),
            "mean heads": len(heads) / len(layers),
            "mean ff depth": sum(len(layer.ff) for layer in layers) / len(layers),
            "mean ff width": sum(w for layer in layers for w in layer.ff) / sum(len(layer.ff) for layer in layers),
            # The operation mix: the share of heads of each family (attention, linear transform, convolution).
            **{f"{family} heads": heads.count(family) / len(heads) for family in ("sa", "lt", "dsc")},
        }

    def plain_family(self) -> list[PlainModel]:
        """As BERT's compact models scale (Turc et al., 2019: a grid of depths L2 … L12 and widths
        H128 … H768, e.g. Tiny L2/H128, Mini L4/H256, Small L4/H512): every depth with every
        width of the preset (heads and feed-forward size at the width's level), ordered by size
        and named from plain-XS to plain-XL, at most len(PLAIN_LEVELS) of them spread in size;
        every layer alike, scaled dot-product attention in every head, one feed-forward layer."""
        c = self.choices
        op = "sa-sdp" if "sa-sdp" in c.ops else c.ops[0]
        widths = sorted(c.hidden)
        grid: dict[str, FlexiBertArch] = {}
        for depth in sorted(c.num_layers):
            for rank, hidden in enumerate(widths):
                level = rank / (len(widths) - 1) if len(widths) > 1 else 0.0
                layer = {"hidden": hidden, "heads": at_level(c.heads_for(hidden), level), "op": op, "ff": [at_level(c.ff_dims, level)] * min(c.ff_layers)}
                arch = self.validate({"layers": [layer] * depth})
                grid.setdefault(arch.arch_id, arch)
        by_size = sorted(grid.values(), key=lambda arch: self.cost(arch).params)
        return named_by_size(by_size)

    def build(self, arch: FlexiBertArch, task: TaskShape | None = None) -> FlexiBertClassifier:
        from search_spaces.flexibert.model import FlexiBertClassifier  # torch loads on first build

        return FlexiBertClassifier(arch, self._text_task(task))

    def tally(self, arch: FlexiBertArch, task: TaskShape | None = None) -> CostTally:
        tally = CostTally()
        flexibert_cost(arch, self._text_task(task), tally)
        return tally

    def supernet(self, task: TaskShape | None = None) -> FlexiBertSupernet:
        from search_spaces.flexibert.supernet import FlexiBertSupernet

        return FlexiBertSupernet(self, self._text_task(task))

    def narrowed_choices(self, keep: float, largest: bool) -> FlexiBertChoices:
        c = self.choices
        hidden = top_values(c.hidden, keep, largest)
        heads = set(top_values(c.heads, keep, largest))
        # Every kept hidden size keeps at least one head count that divides it.
        pick = max if largest else min
        heads |= {pick(c.heads_for(h)) for h in hidden if not any(h % n == 0 for n in heads)}
        return dataclasses.replace(
            c,
            num_layers=top_values(c.num_layers, keep, largest),
            hidden=hidden,
            heads=tuple(sorted(heads)),
            ff_dims=top_values(c.ff_dims, keep, largest),
            ff_layers=top_values(c.ff_layers, keep, largest),
        )

    def _text_task(self, task: TaskShape | None) -> TextTaskShape:
        task = task or self.default_task()
        if not isinstance(task, TextTaskShape):
            raise TypeError(f"task: FlexiBERT models take text tasks (TextTaskShape), got {type(task).__name__}")
        return task

    def size(self) -> int:
        c = self.choices
        ops_per_layer = {n: (math.comb(n + len(c.ops) - 1, n) if c.mixed_ops else len(c.ops)) for n in c.heads}
        ff_stacks = sum(len(c.ff_dims) if c.same_ff_dim else len(c.ff_dims) ** k for k in c.ff_layers)
        per_hidden = {h: sum(ops_per_layer[n] for n in c.heads_for(h)) * ff_stacks for h in c.hidden}
        if c.same_hidden:
            return sum(per_hidden[h] ** depth for h in c.hidden for depth in c.num_layers)
        per_layer = sum(per_hidden.values())
        return sum(per_layer**depth for depth in c.num_layers)


def _replace(layers: list[Layer], i: int, layer: Layer) -> list[Layer]:
    return [layer if j == i else old for j, old in enumerate(layers)]
