"""Methods: one file per method, registered by name."""

from retain.methods.base import Batch, Method, MethodParams, Phase, Prediction, get_method_class, method_registry, register_method

# Importing a module registers its methods.
from retain.methods import derpp, er_ace, er_mixed, ewc, finetune, gdumb, icarl, il2m, joint, maer, rainbow, replay, rwalk  # noqa: E402,F401
from retain.methods import lucir, mrdc  # noqa: E402,F401
from retain.methods import bic, der, memo, wa  # noqa: E402,F401


def method_names() -> list[str]:
    """Names of all registered methods, sorted."""
    return sorted(method_registry())


__all__ = ["Batch", "Method", "MethodParams", "Phase", "Prediction", "get_method_class", "method_names", "register_method"]
