"""What can be searched: architecture types, their spaces, models, graphs and costs."""

from search_spaces.base import Architecture, Cost, ImageTaskShape, PlainModel, SearchSpace, TaskShape, TextTaskShape
from search_spaces.registry import get_space, space_names
from search_spaces.validation import ArchValidationError, Problem

__all__ = [
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
