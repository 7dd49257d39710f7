"""Standalone ViT-ResNAS models: convolutional patch stem, stages of pre-norm transformer blocks,
residual spatial reduction between stages, and a class-token classifier. Runs on any device."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.base import ImageTaskShape
from search_spaces.vit_resnas.arch import Block, VitResNASArch
from search_spaces.vit_resnas.geometry import grid_sides, reduced


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, head_dim: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(width, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class TransformerBlock(nn.Module):
    def __init__(self, width: int, block: Block, head_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, block.heads, head_dim)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, block.mlp), nn.GELU(), nn.Linear(block.mlp, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm1(x)))
        return x + self.dropout(self.mlp(self.norm2(x)))


class ResidualSpatialReduction(nn.Module):
    """Halves the token grid and widens the embedding.

    Main path: layer norm -> 3x3 stride-2 convolution on the token grid -> new position embedding
    (class token: a linear layer). Skip path: 2x2 average pooling of the tokens, zero-padded to the
    new width. The two are added.
    """

    def __init__(self, width_in: int, width_out: int, side_in: int):
        super().__init__()
        self.width_in, self.width_out, self.side_in = width_in, width_out, side_in
        side_out = reduced(side_in)
        self.norm = nn.LayerNorm(width_in)
        self.conv = nn.Conv2d(width_in, width_out, 3, stride=2, padding=1)
        self.cls_proj = nn.Linear(width_in, width_out)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + side_out * side_out, width_out))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        normed = self.norm(x)
        grid = normed[:, 1:].transpose(1, 2).reshape(b, self.width_in, self.side_in, self.side_in)
        main = torch.cat([self.cls_proj(normed[:, :1]), self.conv(grid).flatten(2).transpose(1, 2)], dim=1) + self.pos_embed
        tokens = x[:, 1:].transpose(1, 2).reshape(b, self.width_in, self.side_in, self.side_in)
        pooled = F.avg_pool2d(tokens, 2, ceil_mode=True).flatten(2).transpose(1, 2)
        skip = F.pad(torch.cat([x[:, :1], pooled], dim=1), (0, self.width_out - self.width_in))
        return main + skip


class ConvPatchStem(nn.Module):
    """3x3 convolution to half the first width, then a patch-size convolution with stride patch."""

    def __init__(self, channels: int, width: int, patch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width // 2, 3, padding=1)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(width // 2, width, patch, stride=patch)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(images))).flatten(2).transpose(1, 2)


class VitResNAS(nn.Module):
    """Image classifier for one ViT-ResNAS architecture; input (batch, channels, size, size)."""

    def __init__(self, arch: VitResNASArch, task: ImageTaskShape, patch: int, dropout: float = 0.0):
        super().__init__()
        sides = grid_sides(arch, task, patch)
        w0 = arch.stages[0].width
        self.image_size, self.channels = task.image_size, task.channels
        self.stem = ConvPatchStem(task.channels, w0, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w0))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + sides[0] ** 2, w0))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.stages = nn.ModuleList(
            nn.Sequential(*(TransformerBlock(stage.width, block, stage.head_dim, dropout) for block in stage.blocks)) for stage in arch.stages
        )
        self.reductions = nn.ModuleList(
            ResidualSpatialReduction(prev.width, nxt.width, side) for prev, nxt, side in zip(arch.stages, arch.stages[1:], sides)
        )
        width = arch.stages[-1].width
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, task.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:] != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"images: expected shape (batch, {self.channels}, {self.image_size}, {self.image_size}), got {tuple(images.shape)}")
        tokens = self.stem(images)
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos_embed
        for i, stage in enumerate(self.stages):
            if i:
                x = self.reductions[i - 1](x)
            x = stage(x)
        return self.head(self.norm(x[:, 0]))
