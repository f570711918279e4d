"""MEMO ("A Model or 603 Exemplars", ICLR 2023): shared generalized blocks, one specialized block per task."""

from __future__ import annotations

from retain.methods.base import register_method
from retain.methods.expandable import ExpandableMethod, ExpandableParams
from retain.models.adaptive import AdaptiveNet
from retain.scenarios import TaskSpec


class MemoParams(ExpandableParams):
    """`train_base` keeps the generalized blocks trainable after the first task (MEMO's README
    command and PyCIL's memo.json); False freezes them with BatchNorm in eval mode."""

    train_base: bool = True


@register_method("memo")
class Memo(ExpandableMethod):
    """MEMO: generalized blocks shared, a specialized block per task, aux loss, weight alignment."""

    Params = MemoParams
    model_growth = "specialized"

    def build_network(self) -> AdaptiveNet:
        split = self.ctx.build_split_backbone()
        return AdaptiveNet(split.generalized, split.make_specialized, split.feature_dim, head_init=self.ctx.settings.head_init)

    def before_task(self, task: TaskSpec) -> None:
        if task.index > 0 and not self.params.train_base and not self.network.trunk_frozen:
            self.network.freeze_trunk()
        super().before_task(task)
