"""Classifier heads that grow with the classes seen so far."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# How fresh head rows are initialised (`model.head_init`):
# - "pycil_linear": PyCIL's SimpleLinear (convs/linears.py): kaiming_uniform_(nonlinearity="linear"),
#   i.e. U(±√3/√fan_in), and a zero bias;
# - "torch_default": torch.nn.Linear's reset_parameters (mammoth's and Avalanche's heads):
#   kaiming_uniform_(a=√5), i.e. U(±1/√fan_in), and a bias U(±1/√fan_in).
HEAD_INITS = ("pycil_linear", "torch_default")


def init_head_rows(weight: torch.Tensor, bias: torch.Tensor | None, init: str) -> None:
    """Initialise head rows in place with the rule `init` (one of HEAD_INITS); `bias` may be None."""
    if weight.numel() == 0:  # initialising an empty tensor only warns
        return
    if init == "pycil_linear":
        nn.init.kaiming_uniform_(weight, nonlinearity="linear")
        if bias is not None:
            nn.init.zeros_(bias)
    elif init == "torch_default":
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(weight.shape[1]) if weight.shape[1] > 0 else 0.0
        if bias is not None:
            nn.init.uniform_(bias, -bound, bound)
    else:
        raise ValueError(f"head init {init!r} is not one of {HEAD_INITS}")


class IncrementalLinear(nn.Module):
    """Linear head over `in_features` whose rows (classes) can be appended.

    New rows are initialised by `init` (HEAD_INITS: PyCIL's SimpleLinear by default, or
    torch.nn.Linear's rule); `grow` keeps the old rows and biases bit-identical. The parameters
    are replaced on growth, so an optimizer must be rebuilt afterwards. `bias=False` gives a
    bias-free head (`bias` is None).
    """

    # Marks parameters that `count_parameters(..., exclude_head=True)` leaves out.
    is_head = True

    def __init__(self, in_features: int, num_classes: int = 0, init: str = "pycil_linear", bias: bool = True) -> None:
        super().__init__()
        if init not in HEAD_INITS:
            raise ValueError(f"head init {init!r} is not one of {HEAD_INITS}")
        self.in_features = in_features
        self.init = init
        self.weight = nn.Parameter(torch.empty(0, in_features))
        self.bias: nn.Parameter | None = nn.Parameter(torch.empty(0)) if bias else None
        self.reset(num_classes)

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    def _fresh(self, rows: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        like = self.weight
        weight = torch.empty(rows, self.in_features, dtype=like.dtype, device=like.device)
        bias = None if self.bias is None else torch.zeros(rows, dtype=like.dtype, device=like.device)
        init_head_rows(weight, bias, self.init)
        return weight, bias

    def reset(self, num_classes: int) -> None:
        """Forget every row and start over with `num_classes` freshly initialised ones (IL2M, RM)."""
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        weight, bias = self._fresh(num_classes)
        self._replace(weight, bias)

    def grow(self, n_new: int) -> None:
        """Append `n_new` freshly initialised rows, keeping the existing ones unchanged."""
        if n_new < 0:
            raise ValueError(f"n_new must be >= 0, got {n_new}")
        weight, bias = self._fresh(n_new)
        old_bias = self.bias
        self._replace(torch.cat([self.weight.detach(), weight]),
                      None if old_bias is None or bias is None else torch.cat([old_bias.detach(), bias]))

    def _replace(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        trainable = self.weight.requires_grad
        self.weight = nn.Parameter(weight, requires_grad=trainable)
        if self.bias is not None and bias is not None:
            self.bias = nn.Parameter(bias, requires_grad=trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The number of rows grows during a run: a checkpoint loads into a head of any size (resume).
        saved = state_dict.get(prefix + "weight")
        if saved is not None and saved.shape != self.weight.shape:
            like = self.weight
            self._replace(torch.empty(saved.shape, dtype=like.dtype, device=like.device),
                          torch.empty(saved.shape[0], dtype=like.dtype, device=like.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, bias={self.bias is not None}"


class WrappedLinear(nn.Module):
    """A head whose classifier is an IncrementalLinear (`self.linear`, set by the subclass) with
    layers around it: its size, rows and growth are the classifier's (override `grow` to grow the
    layers too). The base of NormalizedLinear and of users' heads of that kind."""

    is_head = True
    linear: IncrementalLinear

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def num_classes(self) -> int:
        return self.linear.num_classes

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    def grow(self, n_new: int) -> None:
        """Append `n_new` classifier rows, keeping the old ones."""
        self.linear.grow(n_new)


class NormalizedLinear(WrappedLinear):
    """Rainbow Memory's GDumb/joint classifier (`models/layers.py` FinalBlock with BatchNorm on):
    a bias-free IncrementalLinear followed by a BatchNorm1d over the logits (`model.head_norm:
    batchnorm`). Both grow together: old rows, BatchNorm affine parameters and running statistics
    stay bit-identical, new classes get fresh rows and an identity BatchNorm (γ = 1, β = 0, mean 0,
    variance 1)."""

    def __init__(self, in_features: int, num_classes: int = 0, init: str = "pycil_linear", eps: float = 1e-5) -> None:
        super().__init__()
        self.linear = IncrementalLinear(in_features, 0, init=init, bias=False)
        self.eps = eps
        self.norm = nn.BatchNorm1d(0, eps=eps)
        self.reset(num_classes)

    def reset(self, num_classes: int) -> None:
        """Fresh rows and a fresh BatchNorm over `num_classes` logits."""
        self.linear.reset(num_classes)
        self.norm = self._batchnorm(num_classes)

    def grow(self, n_new: int) -> None:
        """Append `n_new` rows and as many identity BatchNorm channels, keeping the old ones."""
        super().grow(n_new)
        old = self.norm
        norm = self._batchnorm(old.num_features + n_new)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(norm, name)[: old.num_features] = getattr(old, name)
            norm.num_batches_tracked.copy_(old.num_batches_tracked)
        norm.weight.requires_grad_(old.weight.requires_grad)
        norm.bias.requires_grad_(old.bias.requires_grad)
        norm.train(old.training)
        self.norm = norm

    def _batchnorm(self, features: int) -> nn.BatchNorm1d:
        like = self.linear.weight
        norm = nn.BatchNorm1d(features, eps=self.eps).to(device=like.device, dtype=like.dtype)
        norm.train(self.training)
        return norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(x))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The head grows during a run: a checkpoint's BatchNorm width replaces the current one (resume).
        saved = state_dict.get(prefix + "norm.weight")
        if saved is not None and saved.shape[0] != self.norm.num_features:
            self.norm = self._batchnorm(saved.shape[0])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
