"""Methods: one file per method, registered by name."""

from retain.errors import unknown_name
from retain.methods.base import Batch, Method, MethodParams, Phase, Prediction, method_registry, register_method

# Importing a module registers its methods.
from retain.methods import derpp, er_ace, er_mixed, ewc, finetune, gdumb, icarl, il2m, joint, maer, rainbow, replay, rwalk  # noqa: E402,F401
from retain.methods import lucir, mrdc  # noqa: E402,F401
from retain.methods import bic, der, memo, wa  # noqa: E402,F401


def get_method_class(name: str) -> type[Method]:
    """The class registered under `name`, or a ConfigError suggesting the closest name."""
    registry = method_registry()
    if name not in registry:
        raise unknown_name("method", name, registry, field="method.name")
    return registry[name]


def method_names() -> list[str]:
    """Names of all registered methods, sorted."""
    return sorted(method_registry())


__all__ = ["Batch", "Method", "MethodParams", "Phase", "Prediction", "get_method_class", "method_names", "register_method"]
