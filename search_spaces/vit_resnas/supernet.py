"""The ViT-ResNAS supernet: every stage holds all of its block slots at the largest width, head
count and MLP size; a subnet takes the first channels/heads/units it needs and the slots its
depth keeps (optional slots are dropped from the last one backwards, see `StageChoices.active_slots`)."""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.base import ImageTaskShape
from search_spaces.supernet import Supernet, conv_parameters, linear_parameters, norm_parameters
from search_spaces.vit_resnas.arch import Block, VitResNASArch
from search_spaces.vit_resnas.choices import StageChoices
from search_spaces.vit_resnas.geometry import grid_sides, reduced
from search_spaces.vit_resnas.model import DROPOUT, vit_resnas_forward
from search_spaces.vit_resnas.space import VitResNASSpace


class BlockParameters(nn.Module):
    def __init__(self, sc: StageChoices):
        super().__init__()
        width, inner, mlp = max(sc.widths), max(sc.heads) * sc.head_dim, max(sc.mlp)
        self.norm1_weight, self.norm1_bias = norm_parameters(width)
        self.qkv_weight, self.qkv_bias = linear_parameters(inner, width, 3)
        self.proj_weight, self.proj_bias = linear_parameters(width, inner)
        self.norm2_weight, self.norm2_bias = norm_parameters(width)
        self.fc1_weight, self.fc1_bias = linear_parameters(mlp, width)
        self.fc2_weight, self.fc2_bias = linear_parameters(width, mlp)

    def sliced(self, block: Block, width: int, head_dim: int) -> dict[str, torch.Tensor]:
        inner, m = block.heads * head_dim, block.mlp
        return {
            "norm1.weight": self.norm1_weight[:width],
            "norm1.bias": self.norm1_bias[:width],
            "attn.qkv.weight": self.qkv_weight[:, :inner, :width].reshape(3 * inner, width),
            "attn.qkv.bias": self.qkv_bias[:, :inner].reshape(3 * inner),
            "attn.proj.weight": self.proj_weight[:width, :inner],
            "attn.proj.bias": self.proj_bias[:width],
            "norm2.weight": self.norm2_weight[:width],
            "norm2.bias": self.norm2_bias[:width],
            "mlp.0.weight": self.fc1_weight[:m, :width],
            "mlp.0.bias": self.fc1_bias[:m],
            "mlp.2.weight": self.fc2_weight[:width, :m],
            "mlp.2.bias": self.fc2_bias[:width],
        }


class ReductionParameters(nn.Module):
    def __init__(self, width_in: int, width_out: int, tokens_out: int):
        super().__init__()
        self.norm_weight, self.norm_bias = norm_parameters(width_in)
        self.conv_weight, self.conv_bias = conv_parameters(width_out, width_in, (3, 3))
        self.cls_proj_weight, self.cls_proj_bias = linear_parameters(width_out, width_in)
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, tokens_out, width_out), std=0.02))

    def sliced(self, width_in: int, width_out: int) -> dict[str, torch.Tensor]:
        return {
            "norm.weight": self.norm_weight[:width_in],
            "norm.bias": self.norm_bias[:width_in],
            "conv.weight": self.conv_weight[:width_out, :width_in],
            "conv.bias": self.conv_bias[:width_out],
            "cls_proj.weight": self.cls_proj_weight[:width_out, :width_in],
            "cls_proj.bias": self.cls_proj_bias[:width_out],
            "pos_embed": self.pos_embed[:, :, :width_out],
        }


class VitResNASSupernet(Supernet[VitResNASArch]):
    """Holds every architecture of a configured ViT-ResNAS space for one image task."""

    def __init__(self, space: VitResNASSpace, task: ImageTaskShape | None = None):
        task = task or space.default_task()
        super().__init__(space, task)
        stages = space.choices.stages
        patch = self.patch = space.choices.patch_for(task.image_size)
        side = task.image_size // patch
        w0 = max(stages[0].widths)
        self.stem1_weight, self.stem1_bias = conv_parameters(w0 // 2, task.channels, (3, 3))
        self.stem2_weight, self.stem2_bias = conv_parameters(w0, w0 // 2, (patch, patch))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w0))
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1 + side * side, w0), std=0.02))
        self.blocks = nn.ModuleList(nn.ModuleList(BlockParameters(sc) for _ in range(sc.blocks)) for sc in stages)
        reductions = []
        for prev, sc in zip(stages, stages[1:]):
            side = reduced(side)
            reductions.append(ReductionParameters(max(prev.widths), max(sc.widths), 1 + side * side))
        self.reductions = nn.ModuleList(reductions)
        last = max(stages[-1].widths)
        self.norm_weight, self.norm_bias = norm_parameters(last)
        self.head_weight, self.head_bias = linear_parameters(task.num_classes, last)

    def run(self, inputs: torch.Tensor, params: dict[str, torch.Tensor], arch: VitResNASArch) -> torch.Tensor:
        return vit_resnas_forward(inputs, params, arch, self.patch, grid_sides(arch, self.task, self.patch), DROPOUT, self.training)

    def sliced_state(self, arch: VitResNASArch) -> dict[str, torch.Tensor]:
        w0, last = arch.stages[0].width, arch.stages[-1].width
        state = {
            "stem.conv1.weight": self.stem1_weight[: w0 // 2],
            "stem.conv1.bias": self.stem1_bias[: w0 // 2],
            "stem.conv2.weight": self.stem2_weight[:w0, : w0 // 2],
            "stem.conv2.bias": self.stem2_bias[:w0],
            "cls_token": self.cls_token[:, :, :w0],
            "pos_embed": self.pos_embed[:, :, :w0],
            "norm.weight": self.norm_weight[:last],
            "norm.bias": self.norm_bias[:last],
            "head.weight": self.head_weight[:, :last],
            "head.bias": self.head_bias,
        }
        for s, (stage, sc) in enumerate(zip(arch.stages, self.space.choices.stages)):
            for b, (block, slot) in enumerate(zip(stage.blocks, sc.active_slots(len(stage.blocks)))):
                for name, tensor in self.blocks[s][slot].sliced(block, stage.width, stage.head_dim).items():
                    state[f"stages.{s}.{b}.{name}"] = tensor
            if s:
                for name, tensor in self.reductions[s - 1].sliced(arch.stages[s - 1].width, stage.width).items():
                    state[f"reductions.{s - 1}.{name}"] = tensor
        return state
