"""Start what a config asks for: one run, or under budget.protocol=auc without budget.point, the AUC sweep.

`retain run` and the cells of `retain sweep` come through here; `run.run` is one run only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retain.config import RetainConfig
from retain.experiment.auc_sweep import run_budget_sweep
from retain.experiment.console import Reporter
from retain.experiment.run import run


def launch(config: RetainConfig, out: str | Path | None = None, dry_run: bool = False,
           reporter: Reporter | None = None) -> dict[str, Any]:
    """Run `config` (or sweep its AUC budget points) and return the results (or the AUC summary)."""
    if config.budget.protocol == "auc" and config.budget.point is None:
        return run_budget_sweep(config, out=out, dry_run=dry_run, reporter=reporter or Reporter(quiet=True))
    return run(config, out=out, dry_run=dry_run, reporter=reporter)
