"""Reports of a run or a sweep: a Markdown page with PNG plots and a CSV of every run's metrics.

Runs are grouped by everything that varies between them except the seed; plots show the mean
over seeds with ± one standard deviation. Plots use matplotlib's object API (no pyplot state).
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retain import metrics
from retain.errors import ConfigError
from retain.experiment.faults import fault_point
from retain.experiment.results import atomic_write, atomic_write_text

MIB = 1024 * 1024
PLOTS_DIR = "plots"
LEADING_COLUMNS = [
    "run", "group", "method", "dataset", "preset", "seed", "budget", "budget_bytes", "complete",
    "completed_tasks", "num_tasks",
]
METRIC_COLUMNS = [
    "average_incremental_accuracy", "average_incremental_accuracy_excl_first", "last_accuracy",
    "average_incremental_accuracy_top5", "forgetting", "forgetting_mammoth", "forgetting_fm", "backward_transfer",
]
TRAILING_COLUMNS = ["memory_bytes", "exemplars", "total_seconds", "train_seconds", "train_images_per_second", "checkpoint_seconds", "resumes"]


@dataclass
class RunRecord:
    """One run directory's results and the sweep axis values that produced it (if any)."""

    path: Path
    results: dict[str, Any]
    axes: dict[str, Any] = field(default_factory=dict)
    group: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.results.get("complete", self.results.get("completed_tasks") == len(self.results.get("task_classes", []))))

    @property
    def budget_bytes(self) -> int | None:
        ledger = self.results.get("ledger")
        return int(ledger[-1]["budget_bytes"]) if ledger else None

    @property
    def budget(self) -> str:
        value = self.results.get("config", {}).get("memory", {}).get("budget")
        return "" if value is None else str(value)


# ---------------------------------------------------------------------- collecting runs
def collect_runs(root: Path) -> list[RunRecord]:
    """Every run under `root` (a run directory itself, a sweep, or any folder of runs)."""
    root = Path(root)
    paths = [root / "results.json"] if (root / "results.json").is_file() else sorted(root.rglob("results.json"))
    if not paths:
        raise ConfigError(
            f"`retain report {str(root)!r}`: no results.json under that path; pass a run directory "
            "(retain run --out) or a sweep directory (retain sweep --out)."
        )
    axes_by_dir = _sweep_axes(root)
    records = [RunRecord(path.parent, read_results(path), axes_by_dir.get(path.parent.resolve(), {})) for path in paths]
    _assign_groups(records)
    return records


# What a report reads of every results.json, and the type each must have.
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "method": str, "seed": int, "accuracy_matrix": list, "stage_accuracy": list, "task_classes": list, "metrics": dict,
}


def read_results(path: Path) -> dict[str, Any]:
    """A run's results.json, checked to hold what a report reads; a ConfigError names the file and what is wrong."""
    def refuse(why: str) -> ConfigError:
        return ConfigError(
            f"`retain report`: {str(path)!r} is not a usable retain results.json: {why}. Nothing was written; "
            f"restore it (`retain run --resume {path.parent}` rewrites a run's results) or move it out of the folder."
        )

    try:
        results = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise refuse("it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise refuse(f"it is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(results, dict):
        raise refuse(f"it holds a {type(results).__name__}, not a mapping")
    for key, kind in _REQUIRED.items():
        if key not in results:
            raise refuse(f"it lacks {key!r}")
        if not isinstance(results[key], kind) or isinstance(results[key], bool):
            raise refuse(f"{key!r} is a {type(results[key]).__name__}, not a {kind.__name__}")
    matrix, stages = results["accuracy_matrix"], results["stage_accuracy"]
    width = len(results["task_classes"])
    if (len(matrix) != len(stages) or len(matrix) > width
            or not all(isinstance(row, list) and len(row) == width and all(_is_score(v) for v in row) for row in matrix)
            or not all(_is_score(v) for v in stages)):
        raise refuse(f"'accuracy_matrix' is not {len(stages)} row(s) of {width} accuracies matching 'stage_accuracy'")
    for key in ("average_incremental_accuracy", "last_accuracy"):
        if not _is_score(results["metrics"].get(key)):
            raise refuse(f"'metrics.{key}' is missing or not a number")
    return results


def _is_score(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _sweep_axes(root: Path) -> dict[Path, dict[str, Any]]:
    cells = root / "cells.json"
    if not cells.is_file():
        return {}
    return {(root / c["dir"]).resolve(): c["axes"] for c in json.loads(cells.read_text())}


def _assign_groups(records: list[RunRecord]) -> None:
    """Group label = the values that vary between runs, seed excluded (the method name when nothing varies)."""
    described = []
    for record in records:
        values = dict(record.axes) if record.axes else {"method": record.results["method"], "budget": record.budget}
        values.pop("seed", None)
        # Runs of other data or another number of tasks never share a group (their curves differ in length).
        values.update(dataset=record.results.get("dataset"), tasks=len(record.results["task_classes"]))
        described.append(values)
    keys = list(dict.fromkeys(k for values in described for k in values))  # grid order
    varying = [k for k in keys if len({json.dumps(v.get(k), sort_keys=True, default=str) for v in described}) > 1]
    for record, values in zip(records, described):
        parts = [f"{_short(k)}={values.get(k)}" for k in varying]
        record.group = ", ".join(parts) if parts else record.results["method"]


def _short(key: str) -> str:
    return {"method.name": "method", "memory.budget": "budget"}.get(key, key)


# ---------------------------------------------------------------------- CSV
def run_row(record: RunRecord, root: Path) -> dict[str, Any]:
    """One CSV row: identification, axes, every metric and the costs of a run."""
    r = record.results
    ledger = r.get("ledger") or []
    row: dict[str, Any] = {
        "run": str(record.path.relative_to(root)) if record.path != root else ".",
        "group": record.group, "method": r.get("method"), "dataset": r.get("dataset"), "preset": r.get("preset"),
        "seed": r.get("seed"), "budget": record.budget, "budget_bytes": record.budget_bytes,
        "complete": record.complete, "completed_tasks": r.get("completed_tasks"), "num_tasks": len(r.get("task_classes", [])),
    }
    row.update({f"axis:{k}": v for k, v in record.axes.items()})
    row.update(r.get("metrics", {}))
    timings = r.get("timings", {})
    row.update({
        "memory_bytes": ledger[-1]["total_bytes"] if ledger else None,
        "exemplars": ledger[-1].get("exemplars") if ledger else None,
        "total_seconds": timings.get("total_seconds"), "train_seconds": timings.get("train_seconds"),
        "train_images_per_second": timings.get("train_images_per_second"),
        "checkpoint_seconds": timings.get("checkpoint_seconds"), "resumes": len(r.get("resumes", [])),
    })
    return row


def write_csv(records: list[RunRecord], root: Path, path: Path) -> list[str]:
    """runs.csv with one row per run; returns the columns."""
    rows = [run_row(record, root) for record in records]
    present = {k for row in rows for k in row}
    axis_columns = sorted(k for k in present if k.startswith("axis:"))
    extra_metrics = sorted(present - set(LEADING_COLUMNS) - set(METRIC_COLUMNS) - set(TRAILING_COLUMNS) - set(axis_columns))
    columns = LEADING_COLUMNS + axis_columns + METRIC_COLUMNS + extra_metrics + TRAILING_COLUMNS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    atomic_write_text(path, buffer.getvalue())
    return columns


# ---------------------------------------------------------------------- plots
def _figure(width: float = 6.4, height: float = 4.2):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save_figure(fig, path: Path) -> None:
    """PNG written atomically: an interrupted report never leaves half a plot."""
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=110), binary=True)


def _stack(values: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)


def _nanmean(stacked: np.ndarray) -> np.ndarray:
    """Mean over runs; cells no run measured (future tasks) stay NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stacked, axis=0)


def plot_accuracy_per_task(groups: dict[str, list[RunRecord]], path: Path) -> None:
    """Accuracy on all seen classes after each task, mean ± std over seeds, one line per group."""
    fig = _figure()
    ax = fig.add_subplot()
    for label, records in groups.items():
        stages = _stack([r.results["stage_accuracy"] for r in records])
        mean, std = np.nanmean(stages, axis=0), np.nanstd(stages, axis=0)
        x = np.asarray(records[0].results.get("seen_classes") or np.arange(1, len(mean) + 1))
        ax.plot(x, mean, marker="o", label=f"{label} (n={len(records)})")
        if len(records) > 1:
            ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ax.set_xticks(x)
    ax.set_xlabel("classes seen")
    ax.set_ylabel("accuracy on seen classes (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("Accuracy after each task (mean ± std over seeds)")
    _save_figure(fig, path)


def plot_accuracy_matrix(label: str, records: list[RunRecord], path: Path) -> None:
    """The accuracy matrix (row = after task t, column = task j's classes) as a heatmap, mean over seeds."""
    matrix = _nanmean(np.stack([_stack(r.results["accuracy_matrix"]) for r in records]))
    size = matrix.shape[0]
    fig = _figure(max(4.5, 1.6 + 0.55 * size), max(3.5, 1.2 + 0.5 * size))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(matrix), vmin=0, vmax=100, cmap="viridis")
    if size <= 12:
        for t in range(size):
            for j in range(size):
                if not np.isnan(matrix[t, j]):
                    ax.text(j, t, f"{matrix[t, j]:.0f}", ha="center", va="center", fontsize=8,
                            color="white" if matrix[t, j] < 60 else "black")
    ticks = np.arange(size)
    ax.set_xticks(ticks, [str(j + 1) for j in ticks])
    ax.set_yticks(ticks, [str(t + 1) for t in ticks])
    ax.set_xlabel("accuracy on the classes of task")
    ax.set_ylabel("after task")
    title = label.replace(", ", "\n") + (f"\n(mean of {len(records)} runs)" if len(records) > 1 else "")
    ax.set_title(title, fontsize="small")
    fig.colorbar(image, ax=ax, label="%", shrink=0.8)
    _save_figure(fig, path)


def plot_memory(label: str, records: list[RunRecord], path: Path) -> None:
    """What the method keeps after each task, stacked by ledger item (bytes), with the budget."""
    ledgers = [r.results["ledger"] for r in records]
    tasks = len(ledgers[0])
    items = sorted({item for ledger in ledgers for entry in ledger for item, size in entry["items"].items() if size})
    budget_bytes = ledgers[0][0]["budget_bytes"]
    unit, scale = next((u, f) for u, f in (("MiB", MIB), ("KiB", 1024), ("bytes", 1)) if budget_bytes >= f or f == 1)
    fig = _figure()
    ax = fig.add_subplot()
    bottom = np.zeros(tasks)
    x = np.arange(1, tasks + 1)
    for item in items:
        values = np.array([np.mean([ledger[t]["items"].get(item, 0) for ledger in ledgers if len(ledger) > t]) for t in range(tasks)]) / scale
        ax.bar(x, values, bottom=bottom, label=item)
        bottom += values
    budget = budget_bytes / scale
    ax.axhline(budget, color="black", linestyle="--", linewidth=1, label=f"budget {budget:.4g} {unit}")
    ax.set_xticks(x)
    ax.set_xlabel("after task")
    ax.set_ylabel(f"memory kept ({unit})")
    ax.set_ylim(0, max(budget, bottom.max()) * 1.3)  # room for the legend above the bars
    ax.set_title(f"Memory composition: {label}", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left", ncol=3)
    _save_figure(fig, path)


def budget_curves(groups: dict[str, list[RunRecord]]) -> dict[str, dict[str, Any]]:
    """Per method (everything but budget and seed): mean accuracies at each budget and MEMO's AUC."""
    by_curve: dict[str, dict[float, list[RunRecord]]] = {}
    for records in groups.values():
        for record in records:
            if record.budget_bytes is None:
                continue
            name = _without_budget(record.group) or record.results["method"]
            by_curve.setdefault(name, {}).setdefault(record.budget_bytes / MIB, []).append(record)
    curves = {}
    for name, points in by_curve.items():
        if len(points) < 2:
            continue
        budgets = sorted(points)
        aia = [float(np.mean([r.results["metrics"]["average_incremental_accuracy"] for r in points[b]])) for b in budgets]
        last = [float(np.mean([r.results["metrics"]["last_accuracy"] for r in points[b]])) for b in budgets]
        curves[name] = {
            "budgets_mib": budgets, "average_incremental_accuracy": aia, "last_accuracy": last,
            "auc_a": metrics.auc(budgets, [a / 100 for a in aia]), "auc_l": metrics.auc(budgets, [a / 100 for a in last]),
        }
    return curves


def _without_budget(group: str) -> str:
    return ", ".join(part for part in group.split(", ") if not part.startswith("budget=") and part)


def plot_budget_curves(curves: dict[str, dict[str, Any]], path: Path) -> None:
    """Accuracy versus memory budget for each method, with AUC-A and AUC-L in the legend."""
    fig = _figure(10, 4.2)
    for column, (key, title, auc_key) in enumerate((
        ("average_incremental_accuracy", "Average incremental accuracy", "auc_a"),
        ("last_accuracy", "Last accuracy", "auc_l"),
    )):
        ax = fig.add_subplot(1, 2, column + 1)
        for name, curve in curves.items():
            ax.plot(curve["budgets_mib"], curve[key], marker="o", label=f"{name} (AUC {curve[auc_key]:.3g})")
        ax.set_xlabel("memory budget (MiB)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    _save_figure(fig, path)


# ---------------------------------------------------------------------- the report
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "run"


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def _row_name(record: RunRecord) -> str:
    """A run's row in the RM table: its `variant` axis name, else its method."""
    variant = record.axes.get("variant")
    return variant["name"] if isinstance(variant, dict) and "name" in variant else str(record.results.get("method"))


def intransigence_table(records: list[RunRecord]) -> list[str]:
    """Rainbow Memory's table (mean ± std over seeds) for every dataset with complete joint runs:
    A_last, F_last and I_last = joint's mean A_last − A_last, with the final-epoch accuracies and,
    when the runs evaluated every epoch (`eval.every_epoch`), with the best epoch's as RM reported."""
    complete = [r for r in records if r.complete]

    def best(record: RunRecord) -> float | None:
        return record.results["metrics"].get("last_accuracy_best_epoch")

    joint: dict[str, list[RunRecord]] = {}
    for record in complete:
        if record.results.get("method") == "joint":
            joint.setdefault(str(record.results.get("dataset")), []).append(record)
    if not joint:
        return []
    with_best = all(best(r) is not None for r in complete)
    head = "| dataset | method | runs | A_last (%) | F_last | I_last |"
    rule = "|---|---|---|---|---|---|"
    if with_best:
        head += " A_last, best epoch (%) | I_last, best epoch |"
        rule += "---|---|"
    lines = ["", "## Last accuracy, forgetting, intransigence", "",
             "Rainbow Memory's metrics, mean ± std over seeds: A_last (%) after the last epoch, F_last "
             "(`metrics.forgetting`, RM's definition) and I_last = A_last of joint (mean over its seeds) − A_last."
             + (" RM's paper reports the best test accuracy over each task's epochs: the best-epoch columns "
                "(`eval.every_epoch`), whose I_last still subtracts from joint's final A_last." if with_best else ""), "", head, rule]
    for dataset in sorted(joint):
        upper = float(np.mean([r.results["metrics"]["last_accuracy"] for r in joint[dataset]]))
        rows: dict[str, list[RunRecord]] = {}
        for record in complete:
            if str(record.results.get("dataset")) == dataset:
                rows.setdefault(_row_name(record), []).append(record)
        for name, members in rows.items():
            last = [r.results["metrics"]["last_accuracy"] for r in members]
            line = (f"| {dataset} | {name} | {len(members)} | {_mean_std(last)} | "
                    f"{_mean_std([r.results['metrics'].get('forgetting') for r in members])} | "
                    f"{_mean_std([upper - a for a in last])} |")
            if with_best:
                line += f" {_mean_std([best(r) for r in members])} | {_mean_std([upper - best(r) for r in members])} |"
            lines.append(line)
    return lines


def write_report(root: str | Path, out: str | Path | None = None) -> Path:
    """Write report.md, runs.csv and plots/*.png for the run or sweep under `root`; return report.md's path."""
    root = Path(root)
    out = Path(out) if out else root
    records = collect_runs(root)  # every results.json is checked before anything is written
    plots = out / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    earlier_plots = set(plots.glob("*.png"))
    complete = [r for r in records if r.complete]
    groups: dict[str, list[RunRecord]] = {}
    for record in complete:
        groups.setdefault(record.group, []).append(record)

    lines = [f"# retain report: {root.resolve().name}", ""]
    lines.append(f"{len(records)} run(s), {len(complete)} complete, {len(groups)} group(s); "
                 "groups differ in everything but the seed. Every run's metrics: [runs.csv](runs.csv).")
    lines += ["", "## Summary", "", "| group | runs | avg. incremental acc. (%) | last acc. (%) | forgetting | memory kept (bytes) |",
              "|---|---|---|---|---|---|"]
    for label, members in groups.items():
        m = [r.results["metrics"] for r in members]
        memory = [r.results["ledger"][-1]["total_bytes"] for r in members if r.results.get("ledger")]
        lines.append(f"| {label} | {len(members)} | {_mean_std([x['average_incremental_accuracy'] for x in m])} | "
                     f"{_mean_std([x['last_accuracy'] for x in m])} | {_mean_std([x.get('forgetting') for x in m])} | "
                     f"{f'{int(np.mean(memory)):,}' if memory else '–'} |")
    lines += intransigence_table(records)
    if groups:
        plot_accuracy_per_task(groups, plots / "accuracy_per_task.png")
        lines += ["", "## Accuracy on seen classes", "", f"![accuracy per task]({PLOTS_DIR}/accuracy_per_task.png)"]
        lines += ["", "## Accuracy matrices", "", "Row t: after task t; column j: accuracy on task j's classes (%)."]
        for label, members in groups.items():
            name = f"accuracy_matrix-{_slug(label)}.png"
            plot_accuracy_matrix(label, members, plots / name)
            lines += ["", f"### {label}", "", f"![accuracy matrix of {label}]({PLOTS_DIR}/{name})"]
        memory_groups = {k: v for k, v in groups.items() if all(r.results.get("ledger") for r in v)}
        if memory_groups:
            lines += ["", "## Memory composition", "", "Bytes kept after each task, by ledger item (mean over seeds)."]
            for label, members in memory_groups.items():
                name = f"memory-{_slug(label)}.png"
                plot_memory(label, members, plots / name)
                lines += ["", f"### {label}", "", f"![memory of {label}]({PLOTS_DIR}/{name})"]
        curves = budget_curves(groups)
        if curves:
            plot_budget_curves(curves, plots / "accuracy_vs_memory.png")
            lines += ["", "## Accuracy versus memory", "", f"![accuracy versus memory]({PLOTS_DIR}/accuracy_vs_memory.png)", "",
                      "| method | budgets (MiB) | AUC-A | AUC-L |", "|---|---|---|---|"]
            for name, curve in curves.items():
                budgets = ", ".join(f"{b:.3g}" for b in curve["budgets_mib"])
                lines.append(f"| {name} | {budgets} | {curve['auc_a']:.4g} | {curve['auc_l']:.4g} |")
            lines += ["", "AUC: trapezoid area of accuracy (fraction) over the budget in MiB (MEMO's AUC-A / AUC-L)."]
    lines += ["", "## Runs", "", "| run | method | seed | avg. incremental acc. (%) | last acc. (%) | tasks done |", "|---|---|---|---|---|---|"]
    for record in records:
        row = run_row(record, root)
        m = record.results.get("metrics", {})
        aia, last = m.get("average_incremental_accuracy"), m.get("last_accuracy")
        lines.append(f"| {row['run']} | {row['method']} | {row['seed']} | {'–' if aia is None else f'{aia:.2f}'} | "
                     f"{'–' if last is None else f'{last:.2f}'} | {row['completed_tasks']}/{row['num_tasks']} |")
    written = {plots / name for name in re.findall(rf"\]\({PLOTS_DIR}/([^)]+\.png)\)", "\n".join(lines))}
    for stale in earlier_plots - written:  # plots of groups only an earlier report had
        stale.unlink()
    write_csv(records, root, out / "runs.csv")
    fault_point("report")
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
