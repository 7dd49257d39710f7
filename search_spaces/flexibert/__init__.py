"""The heterogeneous FlexiBERT space (Tuli et al., JAIR 2023)."""

from search_spaces.flexibert.arch import FlexiBertArch, Layer
from search_spaces.flexibert.choices import PRESETS, FlexiBertChoices
from search_spaces.flexibert.space import FlexiBertSpace

__all__ = ["FlexiBertArch", "FlexiBertChoices", "FlexiBertSpace", "Layer", "PRESETS"]
