"""retain: memory-budgeted class-incremental learning.

The public API, importable from `retain` itself:

* run experiments: `run`, `sweep`, `load_results`, `make_config` (`Results`, `SweepSummary`,
  `RetainConfig`);
* extend it: `register_method` (`Method`, `MethodParams`, `Setting`, `Batch`, `Phase`, `Prediction`,
  `TaskSpec`, `RunContext`, `classification_loss`, `frozen_copy`, `kd_loss`), `register_policy`
  (`MemoryPolicy`), `register_backbone` (`SplitBackbone`), `register_dataset` (`Dataset`,
  `ImageSplit`, `LoadRequest`, `dataset_from_arrays`);
* errors: `RetainError` and its kinds `ConfigError`, `DatasetError`, `BudgetError`,
  `CheckpointError`, `SweepError`.

Names are imported on first use, so `import retain` stays light (no torch until needed).
"""

from __future__ import annotations

import importlib
from typing import Any

from retain.version import __version__

# public name -> the module that defines it (imported on first access: PEP 562)
_EXPORTS: dict[str, str] = {
    # running experiments
    "run": "retain.api",
    "sweep": "retain.api",
    "load_results": "retain.api",
    "make_config": "retain.api",
    "Results": "retain.api",
    "SweepSummary": "retain.sweeps.sweep",
    "RetainConfig": "retain.config",
    # methods
    "register_method": "retain.methods.base",
    "Method": "retain.methods.base",
    "MethodParams": "retain.methods.base",
    "Setting": "retain.methods.base",
    "Batch": "retain.engine.batch",
    "Phase": "retain.engine.batch",
    "Prediction": "retain.engine.batch",
    "TaskSpec": "retain.scenarios.plan",
    "RunContext": "retain.engine.context",
    "classification_loss": "retain.methods.base",
    "frozen_copy": "retain.methods.distillation",
    "kd_loss": "retain.methods.distillation",
    # memory policies
    "register_policy": "retain.memory.policies.registry",
    "MemoryPolicy": "retain.memory.policies.registry",
    # backbones
    "register_backbone": "retain.models.registry",
    "SplitBackbone": "retain.models.split",
    # datasets
    "register_dataset": "retain.data.registry",
    "Dataset": "retain.data.base",
    "ImageSplit": "retain.data.base",
    "LoadRequest": "retain.data.base",
    "dataset_from_arrays": "retain.data.registry",
    # errors
    "RetainError": "retain.errors",
    "ConfigError": "retain.errors",
    "DatasetError": "retain.errors",
    "BudgetError": "retain.errors",
    "CheckpointError": "retain.errors",
    "SweepError": "retain.errors",
}

# The registries fill up when their packages are imported: the built-ins register there.
_REGISTERING_PACKAGES = {
    "register_method": "retain.methods",
    "register_policy": "retain.memory.policies",
    "register_backbone": "retain.models",
    "register_dataset": "retain.data",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'retain' has no attribute {name!r}")
    if name in _REGISTERING_PACKAGES:
        importlib.import_module(_REGISTERING_PACKAGES[name])
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
