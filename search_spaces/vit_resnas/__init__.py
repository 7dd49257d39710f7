"""The multi-stage ViT-ResNAS space (Liao et al., 2021)."""

from search_spaces.vit_resnas.arch import Block, Stage, VitResNASArch
from search_spaces.vit_resnas.choices import PRESETS, StageChoices, VitResNASChoices
from search_spaces.vit_resnas.space import VitResNASSpace

__all__ = ["Block", "PRESETS", "Stage", "StageChoices", "VitResNASArch", "VitResNASChoices", "VitResNASSpace"]
