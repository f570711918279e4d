"""Ablations for issue 23: the parts of Rainbow Memory's code that retain's `method.variant:
rm-code` rows of iCaRL and BiC leave out, as a plugin (`benchmarks/rm_ablation/grid.yaml` runs
them; docs/methods/rainbow.md quotes the results). Not part of the library.

* `mlp-rm-prototype` + `icarl-rm-prototype`: RM's iCaRL network (`methods/icarl.py`, ICaRL.__init__
  and ICaRLNet). The MLP's classifier is replaced by a biased `Linear(400 -> 2048)` whose output is
  the feature the NME classifies; the logits are `fc(ReLU(BatchNorm1d(2048, momentum=0.01)(f)))`
  with `fc` bias-free. The optimiser holds the feature extractor only (rm-code), so the
  BatchNorm's affine parameters and `fc` keep their initialisation.
* `*-percall`: RM's distillation targets are taken from the network at the start of every `train`
  call, and an online task makes two calls (stream pass, memory epochs).
* `RMPrototypeMemory` (`*-memory`): RM's `prototype` memory (`Finetune.mean_feature_sampling`).
* `bic-rm-deepening`: RM's BiC network, which deepens by one 2048-wide block per task
  (`Finetune.before_task` with the prototype memory).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from retain import register_backbone, register_method
from retain.methods.distillation import frozen_copy
from retain.methods.bic import BiC
from retain.methods.icarl import ICaRL
from retain.models import IncrementalLinear, IncrementalNet, WrappedLinear
from retain.models.mlp import MLP

FEATURE_SIZE = 2048  # RM's --feature_size default (main.py / configuration/config.py)


class PrototypeFeatures(nn.Module):
    """An MLP (RM's: bias-free Linear + BatchNorm(eps 1e-6) + ReLU per layer) and RM's `Linear(width -> 2048)`."""

    def __init__(self, in_features: int, hidden: Sequence[int], feature_size: int, batchnorm: bool, bias: bool,
                 bn_eps: float) -> None:
        super().__init__()
        self.mlp = MLP(in_features, hidden, batchnorm=batchnorm, bias=bias, bn_eps=bn_eps)
        self.fc = nn.Linear(self.mlp.out_dim, feature_size)
        self.out_dim = feature_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.mlp(x))


@register_backbone("mlp-rm-prototype")
def mlp_rm_prototype(in_channels: int, image_size: int, *, hidden: Sequence[int] = (400, 400),
                     batchnorm: bool = True, bias: bool = False, bn_eps: float = 1e-6,
                     feature_size: int = FEATURE_SIZE) -> nn.Module:
    """RM's MLP (the `mlp` backbone's options, RM's values by default) followed by its 2048-wide
    prototype Linear (the features iCaRL's NME reads)."""
    return PrototypeFeatures(in_channels * image_size * image_size, list(hidden), int(feature_size), bool(batchnorm),
                             bool(bias), float(bn_eps))


class PrototypeHead(WrappedLinear):
    """RM's ICaRLNet after the feature extractor: BatchNorm1d(momentum 0.01) + ReLU + bias-free Linear."""

    def __init__(self, in_features: int, init: str) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(in_features, momentum=0.01)
        self.linear = IncrementalLinear(in_features, 0, init=init, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.relu(self.norm(x)))


@register_method("icarl-rm-prototype")
class ICaRLPrototype(ICaRL):
    """iCaRL with RM's prototype block between the features and the classifier (see the module docstring)."""

    def build_network(self) -> nn.Module:
        backbone = self.ctx.build_backbone()
        return IncrementalNet(backbone, head=PrototypeHead(backbone.out_dim, self.ctx.config.model.head_init))


def _refresh_teacher(method: ICaRL, task) -> None:
    """RM's ICaRL.train computes its distillation targets q from the network at the start of every
    call, and an online task makes two calls (stream pass, memory epochs)."""
    if method.rm_code and task.index > 0:
        method.teacher = frozen_copy(method.network)


@register_method("icarl-rm-percall")
class ICaRLPerCall(ICaRL):
    """iCaRL rm-code whose teacher is the network at the start of each phase (RM's q per `train` call)."""

    def before_phase(self, task, phase) -> None:
        super().before_phase(task, phase)
        _refresh_teacher(self, task)


@register_method("icarl-rm-prototype-percall")
class ICaRLPrototypePerCall(ICaRLPrototype):
    """The prototype block and the per-call teacher together."""

    def before_phase(self, task, phase) -> None:
        super().before_phase(task, phase)
        _refresh_teacher(self, task)


class RMPrototypeMemory:
    """RM's `prototype` memory (`Finetune.mean_feature_sampling`): a class that already holds its
    quota keeps those exemplars (a random subset when over it) and its new rows never enter; a
    class below its quota is herded over its new rows and its exemplars together. The quota is
    RM's `memory_size // num_class` over the classes exposed so far (raw images only). Left out:
    RM herds towards the class mean of the first selection, kept for the rest of the run."""

    def priority_order(self, label: int, images: torch.Tensor, fresh: int | None = None) -> torch.Tensor:
        fresh = images.shape[0] if fresh is None else fresh
        stored = images.shape[0] - fresh
        assert self.memory.codec.stores_pixels, "the ablation assumes raw exemplars"
        quota = self.memory.capacity_bytes(self.reserved_bytes()) // images[0].numel() // max(len(self.exposed), 1)
        if stored >= quota:
            keep = fresh + torch.randperm(stored, generator=self.memory.generator)
            return torch.cat([keep.to(images.device), torch.arange(fresh, device=images.device)])
        return super().priority_order(label, images, fresh)


@register_method("icarl-rm-memory")
class ICaRLRMMemory(RMPrototypeMemory, ICaRL):
    """iCaRL rm-code with RM's prototype memory."""


@register_method("icarl-rm-all")
class ICaRLRMAll(RMPrototypeMemory, ICaRLPrototypePerCall):
    """iCaRL rm-code with RM's prototype block, per-call targets and prototype memory."""


@register_method("bic-rm-memory")
class BiCRMMemory(RMPrototypeMemory, BiC):
    """BiC rm-code with RM's prototype memory (RM's BiC uses it too: `mem_manage` default → prototype)."""


class DeepeningHead(WrappedLinear):
    """RM's BiC network after the 2048-wide features (`Finetune.before_task` with the prototype
    memory): BatchNorm1d(momentum 0.01) + ReLU + a biased classifier; at every later task
    (`reset`) the classifier is dropped and a fresh `Linear(2048 -> 2048)` + BatchNorm + ReLU block
    takes its place before a fresh classifier, so the network deepens by one block per task."""

    def __init__(self, in_features: int, init: str) -> None:
        super().__init__()
        self.stack = nn.Sequential(nn.BatchNorm1d(in_features, momentum=0.01), nn.ReLU())
        self.linear = IncrementalLinear(in_features, 0, init=init, bias=True)

    def reset(self, num_classes: int) -> None:
        width, like = self.in_features, self.linear.weight
        block = [nn.Linear(width, width), nn.BatchNorm1d(width, momentum=0.01), nn.ReLU()]
        for layer in block:
            self.stack.append(layer.to(device=like.device, dtype=like.dtype).train(self.training))
        self.linear.reset(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.stack(x))


@register_method("bic-rm-deepening")
class BiCDeepening(BiC):
    """BiC rm-code on RM's deepening network (see DeepeningHead)."""

    def build_network(self) -> nn.Module:
        backbone = self.ctx.build_backbone()
        return IncrementalNet(backbone, head=DeepeningHead(backbone.out_dim, self.ctx.config.model.head_init))
