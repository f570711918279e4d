"""The AUC sweep: under budget.protocol=auc without budget.point, one run per budget point, then AUC-A and AUC-L.

It sits above `loop.py` (it starts runs); `retain.launch` starts it and reads the budget points from the sweep's RunSpec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retain import metrics
from retain.budget.protocols import BudgetPoint
from retain.config import RetainConfig
from retain.console import Reporter
from retain.errors import ConfigError
from retain.runs.budgeting import point_config
from retain.runs.directory import check_new_run_dir
from retain.runs.loop import ReportWriter, default_run_dir, run
from retain.runs.results import write_json
from retain.runs.spec import resolve_run
from retain.runs.time_forecast import StepProbe


def run_budget_sweep(config: RetainConfig, out: str | Path | None = None, dry_run: bool = False,
                     reporter: Reporter | None = None, probe: StepProbe | None = None,
                     report_writer: ReportWriter | None = None) -> dict[str, Any]:
    """Run the method at every `auc` budget point and report AUC-A and AUC-L (trapezoid over MB);
    a dry run forecasts each point's time as `probe` says; `report_writer` writes each point's report."""
    spec = resolve_run(config)
    points = spec.auc_points()
    check_increasing(config, points, spec.num_tasks)
    base = Path(out) if out else default_run_dir(config)
    if not dry_run:
        check_new_run_dir(base)
        if (base / "auc.json").exists() or any((base / f"point-{i}").exists() for i in range(1, len(points) + 1)):
            raise ConfigError(
                f"--out {str(base)!r} already holds an AUC sweep (auc.json or point-N/); choose another --out. "
                "Nothing was overwritten."
            )
    rows = []
    for index in range(1, len(points) + 1):
        point_cfg = point_config(config, index)
        result = run(point_cfg, out=base / f"point-{index}", dry_run=dry_run, reporter=reporter, probe=probe, report_writer=report_writer)
        if dry_run:
            continue
        rows.append({
            "point": index,
            "backbone": point_cfg.model.backbone,
            "average_incremental_accuracy": result["metrics"]["average_incremental_accuracy"],
            "last_accuracy": result["metrics"]["last_accuracy"],
        })
    if dry_run:
        return {"dry_run": True}
    axis = [p.axis_mb for p in points]
    summary = {
        "method": config.method_name,
        "points": [{**row, "total_bytes": p.total_bytes, "mb": p.axis_mb} for row, p in zip(rows, points)],
        "auc_a": metrics.auc(axis, [r["average_incremental_accuracy"] / 100 for r in rows]),
        "auc_l": metrics.auc(axis, [r["last_accuracy"] / 100 for r in rows]),
    }
    base.mkdir(parents=True, exist_ok=True)
    write_json(base / "auc.json", summary)
    if reporter is not None and not reporter.quiet:
        reporter.out.print(f"{config.method_name}: AUC-A {summary['auc_a']:.3f}  AUC-L {summary['auc_l']:.3f}  ({base / 'auc.json'})")
    return summary


def check_increasing(config: RetainConfig, points: list[BudgetPoint], num_tasks: int) -> None:
    """Refuse, before any point trains, a grid whose budgets do not grow: AUC needs them strictly increasing."""
    mibs = [p.axis_mb for p in points]
    if len(mibs) >= 2 and all(b > a for a, b in zip(mibs, mibs[1:])):
        return
    shown = ", ".join(f"{p.backbone.name} {m:.3f}" for p, m in zip(points, mibs))
    raise ConfigError(
        f"budget.points={list(config.budget.points)} give the budgets (MiB) {shown} at {num_tasks} "
        "tasks, which do not strictly increase, so no AUC can be drawn over them. A point's total is the larger of "
        f"tasks x its backbone and the reference backbone ({config.budget.reference_backbone}), plus "
        f"{config.budget.reference_exemplars} exemplars: choose larger point backbones, more tasks, or a smaller "
        "budget.reference_backbone. Nothing was trained or written."
    )

