"""Reports of a run or a sweep: a Markdown page with plots (PNG and PDF), a CSV of every run's
metrics and, on request, the summary table as LaTeX (booktabs).

Runs are grouped by everything that varies between them except the seed. Every figure, table,
CSV row and LaTeX caption says what it shows: the dataset, the score set each method is reported
by (`score_label`: its primary score, e.g. NME for iCaRL, IL2M-rectified CNN for IL2M, CNN for
the others) and the statistic: the mean ± the SAMPLE standard deviation (n − 1) over the n seeds
of a group, n shown; one value when n = 1. Every plot gives a method one colour and marker and a
budget one line style, with the legend outside the axes; curves that coincide are drawn with a
small horizontal offset; y-limits come from the methods that keep memory (a memory-free
baseline far below them is clipped, with a note); budgets appear in the unit they were given.
Plot functions return their matplotlib Figure (object API, no pyplot state).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retain import metrics
from retain.engine import observers
from retain.errors import ConfigError
from retain.files import atomic_write, atomic_write_text
from retain.runs.results import upgraded

MIB = 1024 * 1024
NO_MEMORY = "no memory"
PLOTS_DIR = "plots"
LEADING_COLUMNS = [
    "run", "group", "method", "dataset", "score", "preset", "seed", "budget", "budget_bytes", "complete",
    "completed_tasks", "num_tasks",
]
METRIC_COLUMNS = [
    "average_incremental_accuracy", "average_incremental_accuracy_excl_first", "last_accuracy",
    "average_incremental_accuracy_top5", "last_accuracy_top5", "forgetting", "forgetting_mammoth", "forgetting_fm",
    "backward_transfer",
]
STATISTIC = "mean ± sample std (n − 1) over n seeds; one value when n = 1"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
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
    def score(self) -> str:
        """The score set the run's metrics are of (`primary_score_label`, or named from `primary_score`)."""
        label = self.results.get("primary_score_label")
        if label:
            return str(label)
        from retain.methods.base import score_label

        return score_label(None, str(self.results.get("primary_score", "cnn")))

    @property
    def budget(self) -> str:
        """memory.budget as the user wrote it ("100 images", "2 MiB"); NO_MEMORY for a run that kept none."""
        if not self.results.get("ledger"):
            return NO_MEMORY
        value = self.results.get("config", {}).get("memory", {}).get("budget")
        return "" if value is None else str(value)


# ---------------------------------------------------------------------- collecting runs
def collect_runs(root: Path) -> list[RunRecord]:
    """Every run under `root` (a run directory itself, a sweep, or any folder of runs)."""
    root = Path(root)
    paths = [root / "results.json"] if (root / "results.json").is_file() else _grid_results(root)
    if not paths:
        raise ConfigError(
            f"`retain report {str(root)!r}`: no results.json under that path; pass a run directory "
            "(retain run --out) or a sweep directory (retain sweep --out)."
        )
    axes_by_dir = _sweep_axes(root)
    records = [RunRecord(path.parent, read_results(path), axes_by_dir.get(path.parent.resolve(), {})) for path in paths]
    from retain.console import LOGGER
    from retain.reports.cells import check_cells, missing_cells

    check_cells(root, records)
    for missing in missing_cells(root):  # a sweep's report says which cells it lacks (report.md too)
        LOGGER.warning(f"`retain report` {root}: {missing}; the report lists the other cells.")
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
    results = upgraded(results)
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
        wrong = next((v for v in [*stages, *(x for row in matrix if isinstance(row, list) for x in row)] if not _is_score(v)), None)
        found = f" (found {wrong!r}; accuracies are percentages in 0..100)" if wrong is not None else ""
        raise refuse(f"'accuracy_matrix' is not {len(stages)} row(s) of {width} accuracies matching 'stage_accuracy'{found}")
    kind = ((results.get("config") or {}).get("scenario") or {}).get("kind") if isinstance(results.get("config"), dict) else None
    inconsistent = _inconsistent_rows(matrix, stages, disjoint=kind == "class-incremental")
    if inconsistent:
        raise refuse(inconsistent)
    for key in ("average_incremental_accuracy", "last_accuracy"):
        if not _is_score(results["metrics"].get(key)):
            raise refuse(f"'metrics.{key}' is missing or not a percentage in 0..100 (found {results['metrics'].get(key)!r})")
    return results


def check_report_out(root: Path, out: Path) -> None:
    """A report of `root` written elsewhere must not land in another run's or sweep's directory,
    whose own report.md, runs.csv and plots it would replace."""
    from retain.runs.directory import RUN_FILES, SWEEP_FILES

    if out.resolve() == root.resolve() or not out.is_dir():
        return
    held = [name for name in (*RUN_FILES, *SWEEP_FILES) if (out / name).exists()]
    if held:
        raise ConfigError(
            f"`retain report {root} --out {out}`: {str(out)!r} is another run's or sweep's directory (it holds "
            f"{', '.join(held)}); its report.md, runs.csv and plots would be replaced by {str(root)!r}'s. Choose a new "
            f"--out, or leave --out out to write the report into {str(root)!r}. Nothing was written."
        )


def _inconsistent_rows(matrix: list[list[Any]], stages: list[Any], disjoint: bool) -> str | None:
    """Row t of the matrix holds an accuracy for every task learned so far (only later tasks are
    null); with disjoint tasks the stage's accuracy, a mean over those tasks' test images, lies
    between them (blurry stages also score the other tasks' classes seen so far)."""
    for t, (row, stage) in enumerate(zip(matrix, stages)):
        learned = row[:t + 1]
        missing = next((v for v in learned if v is None or math.isnan(v)), False)
        if missing is not False:
            return (f"'accuracy_matrix' row {t + 1} has {missing!r} for a task already learned (only tasks not learned "
                    f"yet are null)")
        if stage is None or math.isnan(stage) or disjoint and not min(learned) - 1e-3 <= stage <= max(learned) + 1e-3:
            return (f"'stage_accuracy' {t + 1} = {stage!r} is not a mean of row {t + 1} of 'accuracy_matrix' "
                    f"({min(learned):.2f} to {max(learned):.2f})")
    return None


def _is_score(value: Any) -> bool:
    """An accuracy: a percentage in 0..100, or null/NaN for a task not evaluated yet."""
    if value is None:
        return True
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return math.isnan(value) or 0 <= value <= 100


def _grid_results(root: Path) -> list[Path]:
    """The results of the cells of a sweep's grid (cells.json), not of folders an older grid left;
    every results.json under any other folder."""
    cells = root / "cells.json"
    if cells.is_file():
        try:
            listed = json.loads(cells.read_text())
            return [root / c["dir"] / "results.json" for c in listed if (root / c["dir"] / "results.json").is_file()]
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise ConfigError(f"`retain report`: {str(cells)!r} is not the cell list a sweep writes ({exc}); "
                              "run the sweep again to rewrite it. Nothing was written.") from None
    return sorted(root.rglob("results.json"))


def _missing_cells(root: Path) -> list[str]:
    from retain.reports.cells import missing_cells

    return missing_cells(root)


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
        if not record.results.get("ledger") and "budget" in values:
            values["budget"] = NO_MEMORY  # a method without memory ignores memory.budget
        # Runs of other data or another number of tasks never share a group (their curves differ in length).
        values.update(dataset=record.results.get("dataset"), preset=record.results.get("preset"),
                      tasks=len(record.results["task_classes"]))
        described.append(values)
    keys = list(dict.fromkeys(k for values in described for k in values))  # grid order
    varying = [k for k in keys if len({json.dumps(v.get(k), sort_keys=True, default=str) for v in described}) > 1]
    for record, values in zip(records, described):
        parts = [f"{_short(k)}={_shown(values.get(k))}" for k in varying]
        record.group = ", ".join(parts) if parts else record.results["method"]


def _short(key: str) -> str:
    return {"method.name": "method", "memory.budget": "budget"}.get(key, key)


def _shown(value: Any) -> Any:
    """An axis value as a label: a variant (a mapping merged into the config) by its `name`."""
    return value["name"] if isinstance(value, dict) and "name" in value else value


# ---------------------------------------------------------------------- CSV
def run_row(record: RunRecord, root: Path) -> dict[str, Any]:
    """One CSV row: identification, axes, every metric and the costs of a run."""
    r = record.results
    ledger = r.get("ledger") or []
    row: dict[str, Any] = {
        "run": str(record.path.relative_to(root)) if record.path != root else ".",
        "group": record.group, "method": r.get("method"), "dataset": r.get("dataset"), "score": record.score,
        "preset": r.get("preset"),
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


PLOT_FORMATS = ("png", "pdf")  # PNG for report.md, PDF (vector) for papers
LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1)))


def _save_figure(fig, path: Path) -> None:
    """The figure as PNG (150 dpi) and PDF beside it, each written atomically: an interrupted
    report never leaves half a plot."""
    for fmt in PLOT_FORMATS:
        atomic_write(path.with_suffix(f".{fmt}"), lambda handle, fmt=fmt: fig.savefig(handle, format=fmt, dpi=150), binary=True)


@dataclass
class Styles:
    """One colour per method and one line style per budget, the same in every plot of a report."""

    colours: dict[str, Any]
    lines: dict[str, Any]

    @classmethod
    def of(cls, records: list[RunRecord]) -> "Styles":
        from matplotlib import colormaps

        methods = sorted({str(r.results.get("method")) for r in records})
        palette = colormaps["tab10" if len(methods) <= 10 else "tab20"].colors
        budgets = sorted({r.budget for r in records}, key=lambda b: (_budget_value(b)[1], _budget_value(b)[0]))
        return cls({m: palette[i % len(palette)] for i, m in enumerate(methods)},
                   {b: LINE_STYLES[i % len(LINE_STYLES)] for i, b in enumerate(budgets)})

    def of_run(self, record: RunRecord) -> dict[str, Any]:
        method = str(record.results.get("method"))
        return {"color": self.colours[method], "linestyle": self.lines[record.budget], "marker": self.marker(method)}

    def marker(self, method: str) -> str:
        return MARKERS[sorted(self.colours).index(method) % len(MARKERS)] if method in self.colours else "o"


def _budget_value(budget: str) -> tuple[float, str]:
    """"100 images" -> (100.0, "images"); "2 MiB" -> (2.0, "MiB"); 4096 -> (4096.0, "bytes")."""
    match = re.match(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$", budget or "")
    if match is None:
        return (float("nan"), budget or "")
    unit = match.group(2)
    canonical = {"image": "images", "images": "images", "img": "images", "imgs": "images", "b": "bytes", "byte": "bytes",
                 "bytes": "bytes", "": "bytes", "kib": "KiB", "kb": "KiB", "mib": "MiB", "mb": "MiB", "gib": "GiB", "gb": "GiB"}
    return (float(match.group(1)), canonical.get(unit.lower(), unit))


def _y_limits(low: float, high: float) -> tuple[float, float]:
    """Y-limits from the data (differences in 85-100 stay visible), padded, within 0..100."""
    span = max(high - low, 4.0)
    return max(0.0, low - 0.08 * span), min(100.0, high + 0.08 * span) if high <= 100 else high + 0.08 * span


def _short_label(label: str) -> str:
    """"method=replay, budget=100 images" -> "replay, 100 images" (other keys keep their names)."""
    return ", ".join(part.split("=", 1)[1] if part.startswith(("method=", "budget=")) else part for part in label.split(", "))


def _legend_label(label: str, n: int) -> str:
    """"method=replay, budget=100 images" with 3 seeds -> "replay, 100 images (3 seeds)"."""
    return f"{_short_label(label)} ({n} seed{'s' if n != 1 else ''})"


def _stack(values: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)


def _nanmean(stacked: np.ndarray) -> np.ndarray:
    """Mean over runs; cells no run measured (future tasks) stay NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stacked, axis=0)


def _contexts(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Runs by dataset and preset ("digits (demo)"); one entry when the report has one setting."""
    out: dict[str, list[RunRecord]] = {}
    for record in records:
        dataset, preset = record.results.get("dataset"), record.results.get("preset")
        out.setdefault(f"{dataset}" + (f" ({preset})" if preset else ""), []).append(record)
    return out


def _scores_text(records: list[RunRecord]) -> str:
    """"NME" when every run shares one score set, else "iCaRL: NME, others: CNN"-style text."""
    by_method: dict[str, set[str]] = {}
    for record in records:
        by_method.setdefault(str(record.results.get("method")), set()).add(record.score)
    labels = {label for found in by_method.values() for label in found}
    if len(labels) == 1:
        return next(iter(labels))
    common = max(labels, key=lambda label: sum(label in found for found in by_method.values()))
    special = [f"{m}: {', '.join(sorted(found))}" for m, found in by_method.items() if found != {common}]
    return f"{'; '.join(special)}; others: {common}"


def _seeds_text(groups: list[list[RunRecord]]) -> str:
    counts = sorted({len(members) for members in groups})
    n = f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}–{counts[-1]}"
    return "1 seed" if counts == [1] else f"mean ± sample std over seeds ({n})"


def _is_baseline(members: list[RunRecord]) -> bool:
    """A memory-free group (finetune, joint): drawn, but not what the y-limits are chosen for."""
    return all(not r.results.get("ledger") for r in members)


def _offsets(count: int, span: float) -> list[float]:
    """Small horizontal offsets that keep coinciding curves apart: 2% of the x-span between
    neighbours, all of them within 8% of it."""
    step = min(0.02, 0.08 / (count - 1)) * span if count > 1 else 0.0
    return [(i - (count - 1) / 2) * step for i in range(count)]


def _limits_of_interest(ax, curves: list[tuple[str, np.ndarray, np.ndarray, bool]]) -> None:
    """Y-limits from the curves of interest (the methods that keep memory) when there are any: a
    memory-free baseline (finetune far below, joint above) does not stretch them; where it leaves
    the axes it is clipped, and a note on the axes names it with its range."""
    interest = [c for c in curves if not c[3]] or curves
    low = min(float(np.nanmin(m - b)) for _, m, b, _ in interest)
    high = max(float(np.nanmax(m + b)) for _, m, b, _ in interest)
    bottom, top = _y_limits(low, high)
    clipped = [f"{name} ({np.nanmin(m):.1f}–{np.nanmax(m):.1f}%)" for name, m, _, baseline in curves
               if baseline and (np.nanmin(m) < bottom or np.nanmax(m) > top)]
    if clipped:
        ax.text(0.01, 0.01, "clipped: " + "; ".join(clipped), transform=ax.transAxes, fontsize="x-small",
                va="bottom", ha="left", color="0.3")
    ax.set_ylim(bottom, top)


def plot_accuracy_per_task(groups: dict[str, list[RunRecord]], path: Path, styles: Styles | None = None):
    """Accuracy on all seen classes after each task, one line per group (colour and marker: method;
    line style: budget): the mean, with a ± one sample std band when the group has more than one
    seed. One panel per dataset/preset when the report spans several. Titles name the dataset,
    the score set and the statistic; the legend sits outside the axes."""
    records = [r for members in groups.values() for r in members]
    styles = styles or Styles.of(records)
    contexts = _contexts(records)
    columns, rows = min(len(contexts), 3), -(-len(contexts) // 3)
    fig = _figure(6.4 * columns + 3.2, 4.4 * rows)
    for index, (context, members_here) in enumerate(contexts.items()):
        ax = fig.add_subplot(rows, columns, index + 1)
        here = {label: [r for r in members if r in members_here] for label, members in groups.items()}
        here = {label: members for label, members in here.items() if members}
        span = max(float(max(r.results.get("seen_classes") or [1]) - min(r.results.get("seen_classes") or [0]))
                   for members in here.values() for r in members) or 1.0
        curves = []
        for offset, (label, members) in zip(_offsets(len(here), span), here.items()):
            stages = _stack([r.results["stage_accuracy"] for r in members])
            mean, std = _nanmean(stages), sample_std(stages)
            x = np.asarray(members[0].results.get("seen_classes") or np.arange(1, len(mean) + 1), dtype=float)
            shown = ", ".join(p for p in label.split(", ") if not p.startswith(("dataset=", "preset=", "tasks=")))
            name = _legend_label(shown or members[0].results["method"], len(members))
            style = styles.of_run(members[0])
            ax.plot(x + offset, mean, markersize=5, label=f"{name} [{members[0].score}]", **style)
            if len(members) > 1:
                ax.fill_between(x + offset, mean - std, mean + std, alpha=0.12, color=style["color"], linewidth=0)
            curves.append((_short_label(shown) or name, mean, std, _is_baseline(members)))
            ax.set_xticks(x)
        _limits_of_interest(ax, curves)
        ax.set_xlabel("classes seen")
        ax.set_ylabel("accuracy on seen classes (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.set_title(f"{context}: accuracy after each task\nscore: {_scores_text(members_here)}; "
                     f"{_seeds_text(list(here.values()))}", fontsize="medium")
    _save_figure(fig, path)
    return fig


def plot_accuracy_matrix(label: str, records: list[RunRecord], path: Path):
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
    title = (f"{records[0].results.get('dataset')}, score {records[0].score}\n" + _short_label(label).replace(", ", "\n")
             + (f"\n(mean of {len(records)} seeds)" if len(records) > 1 else " (1 seed)"))
    ax.set_title(title, fontsize="small")
    fig.colorbar(image, ax=ax, label="%", shrink=0.8)
    _save_figure(fig, path)
    return fig


def plot_memory(label: str, records: list[RunRecord], path: Path):
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
        # The last task's size in the legend: an item of a few bytes (IL2M's class statistics)
        # next to megabytes of images has no visible bar.
        ax.bar(x, values, bottom=bottom, label=f"{item} ({values[-1] * scale:,.0f} bytes after task {tasks})")
        bottom += values
    budget = budget_bytes / scale
    given = records[0].budget
    as_given = f" = {given}" if given and _budget_value(given)[1] != unit else ""
    ax.axhline(budget, color="black", linestyle="--", linewidth=1, label=f"budget {budget:.4g} {unit}{as_given}")
    ax.set_xticks(x)
    ax.set_xlabel("after task")
    ax.set_ylabel(f"memory kept ({unit})")
    ax.set_ylim(0, max(budget, bottom.max()) * 1.3)  # room for the legend above the bars
    seeds = f"mean of {len(records)} seeds" if len(records) > 1 else "1 seed"
    ax.set_title(f"{records[0].results.get('dataset')}: memory composition of {_short_label(label)} ({seeds})",
                 fontsize="medium")
    ax.legend(fontsize="small", loc="upper left", ncol=2)
    _save_figure(fig, path)
    return fig


def plot_memory_comparison(groups: dict[str, list[RunRecord]], path: Path):
    """One figure for several memory groups (a budget sweep): what each keeps after its last task,
    stacked by ledger item, with its budget as a tick; mean over seeds."""
    items = sorted({item for members in groups.values() for r in members for item, size in r.results["ledger"][-1]["items"].items() if size})
    largest = max(max(r.results["ledger"][-1]["budget_bytes"], r.results["ledger"][-1]["total_bytes"]) for m in groups.values() for r in m)
    unit, scale = next((u, f) for u, f in (("MiB", MIB), ("KiB", 1024), ("bytes", 1)) if largest >= f or f == 1)
    labels = [_short_label(label) for label in groups]
    fig = _figure(9.6, 1.6 + 0.42 * len(groups))
    ax = fig.add_subplot()
    y = np.arange(len(groups))
    left = np.zeros(len(groups))
    for item in items:
        values = np.array([np.mean([r.results["ledger"][-1]["items"].get(item, 0) for r in members]) for members in groups.values()]) / scale
        ax.barh(y, values, left=left, label=item, height=0.6)
        left += values
    budgets = np.array([members[0].results["ledger"][-1]["budget_bytes"] for members in groups.values()]) / scale
    ax.scatter(budgets, y, marker="|", s=400, color="black", label="budget", zorder=3)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"memory kept after the last task ({unit}; mean over seeds)")
    datasets = ", ".join(sorted({str(r.results.get("dataset")) for m in groups.values() for r in m}))
    ax.set_title(f"{datasets}: memory composition of each group after its last task", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    _save_figure(fig, path)
    return fig


def budget_axis(records: list[RunRecord]) -> tuple[str, Any]:
    """The unit the budgets were given in (images, bytes, KiB, MiB, GiB) when all runs share it,
    else MiB; and a function from a run to its budget in that unit."""
    units = {_budget_value(r.budget)[1] for r in records if r.budget_bytes is not None}
    if len(units) == 1 and next(iter(units)) in ("images", "bytes", "KiB", "MiB", "GiB"):
        unit = next(iter(units))
        return unit, lambda r: _budget_value(r.budget)[0]
    return "MiB", lambda r: r.budget_bytes / MIB


def budget_curves(groups: dict[str, list[RunRecord]]) -> dict[str, dict[str, Any]]:
    """Per method (everything but budget and seed): mean accuracies at each budget (in the unit the
    budgets were given, `unit`) and MEMO's AUC, always over the budget in MiB (MEMO's tables' unit:
    accuracy as a fraction times MB of 2^20 bytes)."""
    records = [r for members in groups.values() for r in members if r.budget_bytes is not None]
    unit, given = budget_axis(records)
    by_curve: dict[str, dict[int, list[RunRecord]]] = {}
    for record in records:
        name = _without_budget(record.group) or record.results["method"]
        by_curve.setdefault(name, {}).setdefault(record.budget_bytes, []).append(record)
    curves = {}
    for name, points in by_curve.items():
        if len(points) < 2:
            continue
        budgets = sorted(points)
        aia = [float(np.mean([r.results["metrics"]["average_incremental_accuracy"] for r in points[b]])) for b in budgets]
        last = [float(np.mean([r.results["metrics"]["last_accuracy"] for r in points[b]])) for b in budgets]
        mib = [b / MIB for b in budgets]
        spread = {key: [float(sample_std([r.results["metrics"][key] for r in points[b]])) for b in budgets]
                  for key in ("average_incremental_accuracy", "last_accuracy")}
        curves[name] = {
            "std": spread,
            "method": points[budgets[0]][0].results["method"], "unit": unit,
            "budgets": [given(points[b][0]) for b in budgets], "budgets_mib": mib,
            "seeds": min(len(points[b]) for b in budgets),
            "average_incremental_accuracy": aia, "last_accuracy": last,
            "auc_a": metrics.auc(mib, [a / 100 for a in aia]), "auc_l": metrics.auc(mib, [a / 100 for a in last]),
            # the same areas on the axes drawn: accuracy in % times the budget in `unit`
            "auc_a_drawn": metrics.auc([given(points[b][0]) for b in budgets], aia),
            "auc_l_drawn": metrics.auc([given(points[b][0]) for b in budgets], last),
            "score": _scores_text([r for b in budgets for r in points[b]]),
            "dataset": ", ".join(sorted({str(r.results.get("dataset")) for b in budgets for r in points[b]})),
        }
        curves[name].update(_auc_spread(points, budgets, curves[name]["budgets"], mib))
    return curves


def _auc_spread(points: dict[int, list[RunRecord]], budgets: list[int], drawn: list[float], mib: list[float]) -> dict[str, Any]:
    """The sample std of each AUC over the seeds run at every budget (each seed's own curve), and
    their number; the mean of those AUCs is the AUC of the mean curve when they are all the seeds."""
    by_seed = [{r.results.get("seed"): r.results["metrics"] for r in points[b]} for b in budgets]
    seeds = set.intersection(*(set(at) for at in by_seed))
    std = {}
    for auc_key, metric in (("auc_a", "average_incremental_accuracy"), ("auc_l", "last_accuracy")):
        curves = [[at[seed][metric] for at in by_seed] for seed in seeds]
        std[auc_key + "_drawn"] = float(sample_std([metrics.auc(drawn, curve) for curve in curves])) if curves else 0.0
        std[auc_key] = float(sample_std([metrics.auc(mib, [a / 100 for a in curve]) for curve in curves])) if curves else 0.0
    return {"auc_std": std, "auc_seeds": len(seeds)}


def _without_budget(group: str) -> str:
    return ", ".join(part for part in group.split(", ") if not part.startswith("budget=") and part)


def _drawn_auc_text(value: float) -> str:
    """An AUC on the axes drawn: whole numbers with thousands separators from 1,000 on (10,960)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _auc_text(value: float) -> str:
    """An AUC with three significant digits, never rounded to 0 (image-scale budgets give ~1e-3)."""
    return f"{value:.3g}"


def memory_free_levels(groups: dict[str, list[RunRecord]]) -> dict[str, dict[str, Any]]:
    """Mean accuracies of the groups that kept no memory (finetune, joint), drawn as levels
    across the accuracy-versus-memory plot."""
    levels = {}
    for label, members in groups.items():
        if all(not r.results.get("ledger") for r in members):
            levels[label] = {"method": members[0].results["method"], "seeds": len(members), "score": members[0].score, **{
                key: float(np.mean([r.results["metrics"][key] for r in members]))
                for key in ("average_incremental_accuracy", "last_accuracy")}}
    return levels


def plot_budget_curves(curves: dict[str, dict[str, Any]], path: Path, styles: Styles | None = None,
                       levels: dict[str, dict[str, Any]] | None = None):
    """Accuracy versus memory budget for each method (x in the unit the budgets were given; ± one
    sample std when seeds > 1; colour and marker per method), its AUC in the legend in the unit of
    the axes drawn (% × that unit); methods without memory as dotted horizontal levels (clipped,
    with a note, when far below the curves); legend outside the axes."""
    fig = _figure(13, 4.6)
    unit = next(iter(curves.values()))["unit"]
    span = max(max(c["budgets"]) - min(c["budgets"]) for c in curves.values()) or 1.0
    for column, (key, quantity, area) in enumerate((
        ("average_incremental_accuracy", "average incremental accuracy", "AUC-A"),
        ("last_accuracy", "last accuracy", "AUC-L"),
    )):
        ax = fig.add_subplot(1, 2, column + 1)
        drawn = []
        for offset, (name, curve) in zip(_offsets(len(curves), span), curves.items()):
            colour = styles.colours.get(curve["method"]) if styles else None
            marker = styles.marker(curve["method"]) if styles else "o"
            seeds = f", n={curve['seeds']}" if curve["seeds"] > 1 else ""
            # One legend serves both panels, so each label gives both areas.
            ax.errorbar(np.add(curve["budgets"], offset), curve[key], yerr=curve["std"][key] if curve["seeds"] > 1 else None,
                        marker=marker, color=colour, capsize=3,
                        label=f"{_short_label(name)} [{curve['score']}] (AUC-A {_drawn_auc_text(curve['auc_a_drawn'])}, "
                              f"AUC-L {_drawn_auc_text(curve['auc_l_drawn'])} %·{unit}{seeds})")
            drawn.append((name, np.asarray(curve[key]), np.asarray(curve["std"][key]), False))
        for name, level in (levels or {}).items():
            colour = styles.colours.get(level["method"]) if styles else None
            ax.axhline(level[key], color=colour, linestyle=":", linewidth=1.5,
                       label=f"{_short_label(name)} [{level['score']}] (n={level['seeds']})")
            drawn.append((_short_label(name), np.array([level[key]]), np.zeros(1), True))
        _limits_of_interest(ax, drawn)
        ax.set_xlabel(f"memory budget ({unit})")
        ax.set_ylabel(f"{quantity} (%)")
        ax.set_title(f"{quantity} ({area})")
        ax.grid(alpha=0.3)
        if column == 1:
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    some = next(iter(curves.values()))
    seeds = sorted({c["seeds"] for c in curves.values()})
    fig.suptitle(f"{some.get('dataset', '')}: accuracy versus memory; "
                 f"{'1 seed' if seeds == [1] else 'mean ± sample std over n seeds'}; "
                 f"AUC = area under the curve as drawn (% × {unit})", fontsize="medium")
    _save_figure(fig, path)
    return fig


# ---------------------------------------------------------------------- the report
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "run"


def sample_std(values) -> np.ndarray | float:
    """The sample standard deviation (n − 1) over seeds (axis 0); 0 for a single seed."""
    values = np.asarray(values, dtype=float)
    if values.shape[0] < 2:
        return np.zeros(values.shape[1:]) if values.ndim > 1 else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(values, axis=0, ddof=1)


@dataclass(frozen=True)
class SeedStat:
    """Mean and sample std of one figure over a group's seeds (the values that were there)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float | None]) -> "SeedStat | None":
        values = [v for v in values if v is not None]
        return cls(float(np.mean(values)), float(sample_std(values)), len(values)) if values else None


@dataclass(frozen=True)
class SummaryRow:
    """One group's line of the summary table, computed once for report.md and report.tex."""

    label: str
    dataset: Any
    score: str
    n: int
    average: SeedStat | None
    last: SeedStat | None
    forgetting: SeedStat | None
    memory: int | None  # mean bytes kept after the last task


def summary_rows(groups: dict[str, list[RunRecord]]) -> list[SummaryRow]:
    """The summary table's numbers, a row per group."""
    rows = []
    for label, members in groups.items():
        m = [r.results["metrics"] for r in members]
        memory = [r.results["ledger"][-1]["total_bytes"] for r in members if r.results.get("ledger")]
        rows.append(SummaryRow(
            label, members[0].results.get("dataset"), members[0].score, len(members),
            SeedStat.of([x["average_incremental_accuracy"] for x in m]), SeedStat.of([x["last_accuracy"] for x in m]),
            SeedStat.of([x.get("forgetting") for x in m]), int(np.mean(memory)) if memory else None))
    return rows


def _stat_text(stat: SeedStat | None) -> str:
    if stat is None:
        return "–"
    return f"{stat.mean:.2f} ± {stat.std:.2f}" if stat.n > 1 else f"{stat.mean:.2f}"


def _mean_std(values: list[float | None]) -> str:
    return _stat_text(SeedStat.of(values))


def _row_name(record: RunRecord) -> str:
    """A run's row in the RM table: its `variant` axis name, else its method."""
    variant = record.axes.get("variant")
    return variant["name"] if isinstance(variant, dict) and "name" in variant else str(record.results.get("method"))


def intransigence_table(records: list[RunRecord]) -> list[str]:
    """Rainbow Memory's table (mean ± sample std over seeds) for every dataset with complete joint runs:
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
             "Rainbow Memory's metrics, mean ± sample std (n − 1) over seeds (column runs): A_last (%) after the last epoch, F_last "
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


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX table cell."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def _latex_stat(stat: SeedStat | None) -> str:
    if stat is None:
        return "--"
    return f"${stat.mean:.2f} \\pm {stat.std:.2f}$" if stat.n > 1 else f"{stat.mean:.2f}"


def latex_table(groups: dict[str, list[RunRecord]], title: str) -> str:
    """The summary table as LaTeX (booktabs: \\usepackage{booktabs}): mean ± sample std over seeds
    where a group has more than one run, the seed count in its own column."""
    lines = [r"% retain report --latex; needs \usepackage{booktabs}", r"\begin{table}[t]", r"\centering",
             f"\\caption{{{latex_escape(title)}: mean $\\pm$ sample standard deviation ($n-1$) over the $n$ seeds of a "
             "group (one value when $n=1$); accuracies of the score set named in column Score (each method's primary "
             "score).}",
             r"\label{tab:retain-results}", r"\begin{tabular}{lllrrrrr}", r"\toprule",
             r"Group & Dataset & Score & $n$ & Avg.\ inc.\ acc.\ (\%) & Last acc.\ (\%) & Forgetting & Memory (bytes) \\",
             r"\midrule"]
    for row in summary_rows(groups):
        cells = [latex_escape(_legend_label(row.label, row.n).rsplit(" (", 1)[0]), latex_escape(row.dataset),
                 latex_escape(row.score), str(row.n), _latex_stat(row.average), _latex_stat(row.last),
                 _latex_stat(row.forgetting), f"{row.memory:,}".replace(",", "\\,") if row.memory is not None else "--"]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_report(root: str | Path, out: str | Path | None = None, latex: bool = False, figures: bool = True) -> Path:
    """Write report.md, runs.csv and plots/*.png (+ .pdf) for the run or sweep under `root`, and
    with `latex` the summary table as report.tex (booktabs; kept current on later reports once
    written); return report.md's path. `figures=False` writes the tables only (seconds faster:
    no matplotlib), and report.md says how to add the figures (`retain report`)."""
    root = Path(root)
    out = Path(out) if out else root
    records = collect_runs(root)  # every results.json is checked before anything is written
    check_report_out(root, out)
    plots = out / PLOTS_DIR
    if figures:
        plots.mkdir(parents=True, exist_ok=True)
    earlier_plots = {p for fmt in PLOT_FORMATS for p in plots.glob(f"*.{fmt}")} if plots.is_dir() else set()
    complete = [r for r in records if r.complete]
    groups = _groups(complete)
    lines = _summary_section(root, records, complete, groups)
    if groups and not figures:
        lines += ["", f"Figures (accuracy per task, accuracy matrices, memory): `retain report {root}` adds them."]
    if groups and figures:
        lines += _figure_sections(groups, Styles.of(complete), plots)
    lines += _runs_section(records, root)
    _remove_stale_plots(earlier_plots, lines, plots)
    write_csv(records, root, out / "runs.csv")
    if latex or (out / "report.tex").is_file():  # a table an earlier --latex report wrote is kept current
        atomic_write_text(out / "report.tex", latex_table(groups, f"retain report: {root.resolve().name}"))
        lines[3:3] = ["", "The summary table as LaTeX (booktabs): [report.tex](report.tex)."]
    observers.moment("report")
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _groups(complete: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """The complete runs by group, ordered by method, then budget (40 images before 160 images), then label."""
    groups: dict[str, list[RunRecord]] = {}
    for record in sorted(complete, key=lambda r: (str(r.results.get("method")), r.budget_bytes or 0, r.group)):
        groups.setdefault(record.group, []).append(record)
    return groups


def _summary_section(root: Path, records: list[RunRecord], complete: list[RunRecord],
                     groups: dict[str, list[RunRecord]]) -> list[str]:
    """The title, the counts, the summary table (one row per group) and the intransigence table."""
    lines = [f"# retain report: {root.resolve().name}", ""]
    lines.append(f"{len(records)} run(s), {len(complete)} complete, {len(groups)} group(s); "
                 "groups differ in everything but the seed. Every run's metrics: [runs.csv](runs.csv).")
    lines += [f"- **Missing** {text}." for text in _missing_cells(root)]
    lines += ["", "## Summary", "", f"Values: {STATISTIC}. Score: the score set a group's accuracies are of, its "
              "method's primary score (NME for iCaRL, the network's output — CNN — for the others, after IL2M's "
              "rectification, BiC's bias correction or WA's weight aligning; see docs/experiments.md).", "",
              "| group | dataset | score | n | avg. incremental acc. (%) | last acc. (%) | forgetting | memory kept (bytes) |",
              "|---|---|---|---|---|---|---|---|"]
    for row in summary_rows(groups):
        lines.append(f"| {row.label} | {row.dataset} | {row.score} | {row.n} | {_stat_text(row.average)} | "
                     f"{_stat_text(row.last)} | {_stat_text(row.forgetting)} | "
                     f"{f'{row.memory:,}' if row.memory is not None else '–'} |")
    return lines + intransigence_table(records)


def _figure_sections(groups: dict[str, list[RunRecord]], styles: Styles, plots: Path) -> list[str]:
    """Draw the figures and return the report's sections that show them: accuracy per task, the
    accuracy matrices, the memory composition and accuracy versus memory."""
    plot_accuracy_per_task(groups, plots / "accuracy_per_task.png", styles)
    lines = ["", "## Accuracy on seen classes", "", f"![accuracy per task]({PLOTS_DIR}/accuracy_per_task.png)"]
    lines += ["", "## Accuracy matrices", "", "Row t: after task t; column j: accuracy on task j's classes (%)."]
    for label, members in groups.items():
        name = f"accuracy_matrix-{_slug(label)}.png"
        plot_accuracy_matrix(label, members, plots / name)
        lines += ["", f"### {label}", "", f"![accuracy matrix of {label}]({PLOTS_DIR}/{name})"]
    return lines + _memory_section(groups, plots) + _budget_curve_section(groups, styles, plots)


def _memory_section(groups: dict[str, list[RunRecord]], plots: Path) -> list[str]:
    """The memory composition: per task for one group, after the last task against the budget for several."""
    memory_groups = {k: v for k, v in groups.items() if all(r.results.get("ledger") for r in v)}
    if len(memory_groups) == 1:
        lines = ["", "## Memory composition", "", "Bytes kept after each task, by ledger item (mean over seeds)."]
        for label, members in memory_groups.items():
            name = f"memory-{_slug(label)}.png"
            plot_memory(label, members, plots / name)
            lines += ["", f"### {label}", "", f"![memory of {label}]({PLOTS_DIR}/{name})"]
        return lines
    if not memory_groups:
        return []
    plot_memory_comparison(memory_groups, plots / "memory.png")
    return ["", "## Memory composition", "", "Bytes kept after the last task by each group, by ledger item "
            "(mean over seeds), against its budget.", "", f"![memory of every group]({PLOTS_DIR}/memory.png)"]


def _budget_curve_section(groups: dict[str, list[RunRecord]], styles: Styles, plots: Path) -> list[str]:
    """Accuracy versus memory and its AUC table, when groups differ in budget."""
    curves = budget_curves(groups)
    if not curves:
        return []
    plot_budget_curves(curves, plots / "accuracy_vs_memory.png", styles, memory_free_levels(groups))
    unit = next(iter(curves.values()))["unit"]
    lines = ["", "## Accuracy versus memory", "", f"![accuracy versus memory]({PLOTS_DIR}/accuracy_vs_memory.png)", "",
             f"| method | dataset | score | n | budgets ({unit}) | budgets (MiB) | AUC-A (% × {unit}) | AUC-L (% × {unit}) | "
             "AUC-A (MEMO: fraction × MiB) | AUC-L (MEMO) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, curve in curves.items():
        budgets = ", ".join(f"{b:.4g}" for b in curve["budgets"])
        mib = ", ".join(f"{b:.3g}" for b in curve["budgets_mib"])
        aucs = [_with_spread(curve, key, text) for key, text in (("auc_a_drawn", _drawn_auc_text), ("auc_l_drawn", _drawn_auc_text),
                                                                  ("auc_a", _auc_text), ("auc_l", _auc_text))]
        lines.append(f"| {name} | {curve['dataset']} | {curve['score']} | {curve['auc_seeds']} | {budgets} | {mib} | "
                     + " | ".join(aucs) + " |")
    return lines + ["", f"AUC: trapezoid area under the mean accuracy, once on the axes drawn (% × {unit}, as in the "
                    "figure's legend), once as MEMO's AUC-A / AUC-L tables give it: accuracy as a fraction over the "
                    "budget in MiB (MB of 2^20 bytes; CIFAR-100 B0 Inc10: about 10). ± is the sample std of each "
                    "seed's own AUC over the n seeds run at every budget."]


def _with_spread(curve: dict[str, Any], key: str, text: Any) -> str:
    """An AUC of the mean curve, with ± the sample std over seeds when there are several."""
    if curve["auc_seeds"] < 2:
        return text(curve[key])
    return f"{text(curve[key])} ± {text(curve['auc_std'][key])}"


def _runs_section(records: list[RunRecord], root: Path) -> list[str]:
    """One row per run, complete or not."""
    lines = ["", "## Runs", "", "| run | method | dataset | score | seed | avg. incremental acc. (%) | last acc. (%) | tasks done |",
             "|---|---|---|---|---|---|---|---|"]
    for record in records:
        row = run_row(record, root)
        m = record.results.get("metrics", {})
        aia, last = m.get("average_incremental_accuracy"), m.get("last_accuracy")
        lines.append(f"| {row['run']} | {row['method']} | {row['dataset']} | {row['score']} | {row['seed']} | "
                     f"{'–' if aia is None else f'{aia:.2f}'} | "
                     f"{'–' if last is None else f'{last:.2f}'} | {row['completed_tasks']}/{row['num_tasks']} |")
    return lines


def _remove_stale_plots(earlier: set[Path], lines: list[str], plots: Path) -> None:
    """Delete the plots of groups only an earlier report had (the ones this report's lines do not show)."""
    shown = {(plots / name).with_suffix(f".{fmt}") for name in re.findall(rf"\]\({PLOTS_DIR}/([^)]+\.png)\)", "\n".join(lines))
             for fmt in PLOT_FORMATS}
    for stale in earlier - shown:
        stale.unlink()
