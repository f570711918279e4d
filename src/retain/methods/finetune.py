"""Fine-tuning: the lower bound. Trains on the current task only; no memory, no regularisation."""

from retain.methods.base import Method, register_method


@register_method("finetune")
class Finetune(Method):
    """Cross-entropy over all seen classes on the current task's data; the head grows each task."""

    supports_head_norm = True
