"""Experience replay: cross-entropy on task data mixed with memory rows, no distillation."""

from retain.methods.exemplar import ExemplarMethod
from retain.methods.base import register_method


@register_method("replay")
class Replay(ExemplarMethod):
    """Replay of a byte-budgeted memory (PyCIL "Replay" with herding; ER with a streaming policy)."""

    default_policy = "herding"
