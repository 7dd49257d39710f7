"""What can be searched: architecture types, their spaces, models, graphs and costs."""

from search_spaces.base import Architecture, Cost, ImageTaskShape, PlainModel, SearchSpace, TaskShape, TextTaskShape
from search_spaces.registry import get_space, space_names
from search_spaces.validation import ArchValidationError, Problem

# Raised whenever a model's computation changes (2: fused attention), so that what was measured of
# the models before, such as a calibrated latency predictor, is not reused for the new ones.
MODELS_VERSION = 2

__all__ = [
    "MODELS_VERSION",
    "ArchValidationError",
    "Architecture",
    "Cost",
    "ImageTaskShape",
    "PlainModel",
    "Problem",
    "SearchSpace",
    "TaskShape",
    "TextTaskShape",
    "get_space",
    "space_names",
]
