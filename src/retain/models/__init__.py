"""Backbones, growing heads and incremental networks; parameter accounting for the budget."""

from retain.models import builtin  # noqa: F401  (registers the built-in backbones)
from retain.models.accounting import count_parameters, parameter_bytes
from retain.models.heads import IncrementalLinear, NormalizedLinear, WrappedLinear
from retain.models.network import IncrementalNet
from retain.models.registry import (
    backbone_builder,
    backbone_names,
    build_backbone,
    build_split_backbone,
    check_backbone_name,
    is_split_backbone,
    register_backbone,
    split_backbone_names,
)
from retain.models.split import ComposedBackbone, SplitBackbone

# The built-in names (plugins add theirs later: `backbone_names()` lists everything registered).
BACKBONE_NAMES: tuple[str, ...] = tuple(backbone_names())
SPLIT_BACKBONE_NAMES: tuple[str, ...] = tuple(split_backbone_names())

__all__ = [
    "BACKBONE_NAMES",
    "SPLIT_BACKBONE_NAMES",
    "ComposedBackbone",
    "IncrementalLinear",
    "IncrementalNet",
    "NormalizedLinear",
    "WrappedLinear",
    "SplitBackbone",
    "backbone_builder",
    "backbone_names",
    "build_backbone",
    "build_split_backbone",
    "check_backbone_name",
    "count_parameters",
    "is_split_backbone",
    "parameter_bytes",
    "register_backbone",
    "split_backbone_names",
]
