"""Backbones, growing heads and incremental networks; parameter accounting for the budget."""

from retain.models.accounting import count_parameters, parameter_bytes
from retain.models.heads import IncrementalLinear
from retain.models.network import IncrementalNet
from retain.models.registry import BACKBONE_NAMES, SPLIT_BACKBONE_NAMES, build_backbone, build_split_backbone
from retain.models.split import ComposedBackbone, SplitBackbone

__all__ = [
    "BACKBONE_NAMES",
    "SPLIT_BACKBONE_NAMES",
    "ComposedBackbone",
    "IncrementalLinear",
    "IncrementalNet",
    "SplitBackbone",
    "build_backbone",
    "build_split_backbone",
    "count_parameters",
    "parameter_bytes",
]
