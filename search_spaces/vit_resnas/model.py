"""Standalone ViT-ResNAS models: convolutional patch stem, stages of pre-norm transformer blocks,
residual spatial reduction between stages, and a class-token classifier. Runs on any device.

The computation lives in functions over a name -> tensor mapping (`vit_resnas_forward`); the
modules here hold the parameters under those names and call the functions with their own. A
supernet calls the same functions with slices of its shared tensors, so a subnet and its
extracted model compute the same thing by construction.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.base import ImageTaskShape
from search_spaces.functional import Params, apply_dropout, layer_norm, linear
from search_spaces.vit_resnas.arch import Block, VitResNASArch
from search_spaces.vit_resnas.geometry import grid_sides, reduced

DROPOUT = 0.0  # the paper's small models train without dropout


def block_forward(x: torch.Tensor, p: Params, prefix: str, heads: int, head_dim: int, dropout: float, training: bool) -> torch.Tensor:
    """Pre-norm block: x + attention(norm(x)), then x + MLP(norm(x))."""
    b, n, _ = x.shape
    q, k, v = linear(layer_norm(x, p, prefix + "norm1"), p, prefix + "attn.qkv").view(b, n, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    # The fused kernel: 1.3-1.5x faster than the written-out product and softmax (docs/benchmarks/search.md).
    attended = F.scaled_dot_product_attention(q, k, v)
    mixed = linear(attended.transpose(1, 2).reshape(b, n, heads * head_dim), p, prefix + "attn.proj")
    x = x + apply_dropout(mixed, dropout, training)
    hidden = F.gelu(linear(layer_norm(x, p, prefix + "norm2"), p, prefix + "mlp.0"))
    return x + apply_dropout(linear(hidden, p, prefix + "mlp.2"), dropout, training)


def reduction_forward(x: torch.Tensor, p: Params, prefix: str, width_in: int, width_out: int, side_in: int) -> torch.Tensor:
    """Residual spatial reduction: halves the token grid and widens the embedding.

    Main path: layer norm -> 3x3 stride-2 convolution on the token grid -> new position embedding
    (class token: a linear layer). Skip path: 2x2 average pooling of the tokens, zero-padded to the
    new width. The two are added.
    """
    b = x.shape[0]
    normed = layer_norm(x, p, prefix + "norm")
    grid = normed[:, 1:].transpose(1, 2).reshape(b, width_in, side_in, side_in)
    conv = F.conv2d(grid, p[prefix + "conv.weight"], p[prefix + "conv.bias"], stride=2, padding=1)
    main = torch.cat([linear(normed[:, :1], p, prefix + "cls_proj"), conv.flatten(2).transpose(1, 2)], dim=1) + p[prefix + "pos_embed"]
    tokens = x[:, 1:].transpose(1, 2).reshape(b, width_in, side_in, side_in)
    pooled = F.avg_pool2d(tokens, 2, ceil_mode=True).flatten(2).transpose(1, 2)
    skip = F.pad(torch.cat([x[:, :1], pooled], dim=1), (0, width_out - width_in))
    return main + skip


def vit_resnas_forward(images: torch.Tensor, p: Params, arch: VitResNASArch, patch: int, sides: list[int], dropout: float, training: bool) -> torch.Tensor:
    """Logits of `arch` with parameters `p` (names as in `VitResNAS.state_dict()`)."""
    x = F.gelu(F.conv2d(images, p["stem.conv1.weight"], p["stem.conv1.bias"], padding=1))
    tokens = F.conv2d(x, p["stem.conv2.weight"], p["stem.conv2.bias"], stride=patch).flatten(2).transpose(1, 2)
    x = torch.cat([p["cls_token"].expand(tokens.shape[0], -1, -1), tokens], dim=1) + p["pos_embed"]
    for s, stage in enumerate(arch.stages):
        if s:
            x = reduction_forward(x, p, f"reductions.{s - 1}.", arch.stages[s - 1].width, stage.width, sides[s - 1])
        for b, block in enumerate(stage.blocks):
            x = block_forward(x, p, f"stages.{s}.{b}.", block.heads, stage.head_dim, dropout, training)
    return linear(layer_norm(x[:, 0], p, "norm"), p, "head")


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, head_dim: int):
        super().__init__()
        self.qkv = nn.Linear(width, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, width)


class TransformerBlock(nn.Module):
    def __init__(self, width: int, block: Block, head_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, block.heads, head_dim)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, block.mlp), nn.GELU(), nn.Linear(block.mlp, width))


class ResidualSpatialReduction(nn.Module):
    def __init__(self, width_in: int, width_out: int, side_in: int):
        super().__init__()
        side_out = reduced(side_in)
        self.norm = nn.LayerNorm(width_in)
        self.conv = nn.Conv2d(width_in, width_out, 3, stride=2, padding=1)
        self.cls_proj = nn.Linear(width_in, width_out)
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1 + side_out * side_out, width_out), std=0.02))


class ConvPatchStem(nn.Module):
    """3x3 convolution to half the first width, then a patch-size convolution with stride patch."""

    def __init__(self, channels: int, width: int, patch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width // 2, 3, padding=1)
        self.conv2 = nn.Conv2d(width // 2, width, patch, stride=patch)


class VitResNAS(nn.Module):
    """Image classifier for one ViT-ResNAS architecture; input (batch, channels, size, size)."""

    def __init__(self, arch: VitResNASArch, task: ImageTaskShape, patch: int, dropout: float = DROPOUT):
        super().__init__()
        self.arch, self.patch, self.dropout = arch, patch, dropout
        self.sides = grid_sides(arch, task, patch)
        w0 = arch.stages[0].width
        self.image_size, self.channels = task.image_size, task.channels
        self.stem = ConvPatchStem(task.channels, w0, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w0))
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1 + self.sides[0] ** 2, w0), std=0.02))
        self.stages = nn.ModuleList(nn.Sequential(*(TransformerBlock(stage.width, block, stage.head_dim) for block in stage.blocks)) for stage in arch.stages)
        self.reductions = nn.ModuleList(ResidualSpatialReduction(prev.width, nxt.width, side) for prev, nxt, side in zip(arch.stages, arch.stages[1:], self.sides))
        width = arch.stages[-1].width
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, task.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:] != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"images: expected shape (batch, {self.channels}, {self.image_size}, {self.image_size}), got {tuple(images.shape)}")
        return vit_resnas_forward(images, dict(self.named_parameters()), self.arch, self.patch, self.sides, self.dropout, self.training)
