"""What a network costs in the memory budget: its parameters (MEMO/PyCIL convention, spec §0.4)."""

from __future__ import annotations

from torch import nn


def _counted_parameters(module: nn.Module, exclude_head: bool) -> list[nn.Parameter]:
    excluded: set[int] = set()
    if exclude_head:
        for sub in module.modules():
            if getattr(sub, "is_head", False):
                excluded.update(id(p) for p in sub.parameters())
    # parameters() already yields each shared tensor once; buffers (BN statistics) are not parameters.
    return [p for p in module.parameters() if id(p) not in excluded]


def count_parameters(module: nn.Module, exclude_head: bool = True) -> int:
    """Number of nn.Parameter elements in `module`.

    BatchNorm running statistics are buffers and are not counted. With `exclude_head`
    the classifier heads (modules with `is_head = True`, e.g. IncrementalLinear) are left
    out, as MEMO's budget tables count backbones only.
    """
    return sum(p.numel() for p in _counted_parameters(module, exclude_head))


def parameter_bytes(module: nn.Module, exclude_head: bool = True) -> int:
    """Bytes the counted parameters occupy at their dtype (4 per float32 parameter)."""
    return sum(p.numel() * p.element_size() for p in _counted_parameters(module, exclude_head))
