"""Paper-ready reports: PNG and PDF, y-limits from the methods of interest (baselines clipped with
a note), mean ± sample std only for several seeds, one colour and marker per method and a line
style per budget, the legend outside the data, budgets in their unit, AUC in the drawn axes' unit
and MEMO's, the dataset, score set and statistic named everywhere, and the LaTeX (booktabs) table."""

import json

import numpy as np
import pytest
from matplotlib.colors import to_hex

from retain import metrics
from retain.reports.report import (
    MIB,
    budget_curves,
    collect_runs,
    latex_escape,
    plot_accuracy_per_task,
    plot_budget_curves,
    plot_memory,
    write_report,
)

IMAGE = 64  # bytes of one digits image


def _run(root, name, method="replay", seed=0, budget="40 images", stages=(99.0, 95.0, 90.0), dataset="digits",
         preset="demo", memory=True):
    budget_bytes = int(budget.split()[0]) * (IMAGE if budget.endswith("images") else 1024 if budget.endswith("KiB") else MIB)
    t = len(stages)
    matrix = [[stages[i] if j <= i else None for j in range(t)] for i in range(t)]
    results = {
        "method": method, "seed": seed, "dataset": dataset, "preset": preset, "complete": True, "completed_tasks": t,
        "primary_score": "nme" if method == "icarl" else "cnn",
        "task_classes": [[2 * i, 2 * i + 1] for i in range(t)], "seen_classes": [2 * (i + 1) for i in range(t)],
        "accuracy_matrix": matrix, "stage_accuracy": list(stages),
        "metrics": {"average_incremental_accuracy": float(np.mean(stages)), "last_accuracy": stages[-1],
                    "forgetting": stages[0] - stages[-1]},
        "config": {"memory": {"budget": budget}},
    }
    if memory:
        results["ledger"] = [{"budget_bytes": budget_bytes, "total_bytes": budget_bytes, "items": {"exemplars": budget_bytes}}
                             for _ in range(t)]
    (root / name).mkdir(parents=True)
    (root / name / "results.json").write_text(json.dumps(results))


def _groups(root):
    groups = {}
    for record in collect_runs(root):
        groups.setdefault(record.group, []).append(record)
    return groups


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "sweep"
    for seed in (0, 1):
        for budget, shift in (("40 images", 0.0), ("80 images", 2.0)):
            _run(root, f"replay-{budget[:2]}-{seed}", "replay", seed, budget, (99.0, 94.0 + shift + seed, 88.0 + shift + seed))
            _run(root, f"icarl-{budget[:2]}-{seed}", "icarl", seed, budget, (99.5, 96.0 + shift - seed, 92.0 + shift - seed))
        _run(root, f"finetune-{seed}", "finetune", seed, "40 images", (99.0, 50.0, 33.0), memory=False)
    return root


def test_every_plot_is_written_as_png_and_pdf(sweep):
    text = write_report(sweep).read_text()
    plots = sorted((sweep / "plots").glob("*.png"))
    assert len(plots) >= 5
    for png in plots:
        assert f"plots/{png.name}" in text
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    # A plot no longer produced goes away in both formats.
    (sweep / "plots" / "old.png").write_bytes(b"x")
    (sweep / "plots" / "old.pdf").write_bytes(b"x")
    write_report(sweep)
    assert not (sweep / "plots" / "old.png").exists() and not (sweep / "plots" / "old.pdf").exists()


def test_y_limits_follow_the_data_and_spread_only_for_several_seeds(tmp_path):
    root = tmp_path / "one"
    _run(root, "a", stages=(99.0, 93.0, 88.0))
    fig = plot_accuracy_per_task(_groups(root), tmp_path / "a.png")
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert 80 < low < 88 and 99 <= high <= 100  # not 0-100: differences in 85-100 stay visible
    assert "±" not in ax.get_title() and "1 seed" in ax.get_title() and "score: CNN" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["replay (1 seed) [CNN]"]
    assert not ax.collections  # no band for one seed
    _run(root, "b", seed=1, stages=(97.0, 91.0, 86.0))
    ax = plot_accuracy_per_task(_groups(root), tmp_path / "b.png").axes[0]
    assert "mean ± sample std over seeds (n = 2)" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["replay (2 seeds) [CNN]"]
    assert len(ax.collections) == 1
    assert ax.get_ylim()[0] < 87 - np.sqrt(2)  # the band's low edge (mean 87 - sample std √2) is inside


def test_one_colour_per_method_and_a_line_style_per_budget_in_every_plot(sweep):
    groups = _groups(sweep)
    from retain.reports.report import Styles, memory_free_levels

    records = [r for members in groups.values() for r in members]
    styles = Styles.of(records)
    per_task = plot_accuracy_per_task(groups, sweep / "t.png", styles).axes[0]
    by_label = {t.get_text().rsplit(" [", 1)[0]: line for t, line in zip(per_task.get_legend().get_texts(), per_task.get_lines())}
    colour = {label: to_hex(line.get_color()) for label, line in by_label.items()}
    style = {label: line.get_linestyle() for label, line in by_label.items()}
    assert colour["replay, 40 images (2 seeds)"] == colour["replay, 80 images (2 seeds)"]
    assert colour["icarl, 40 images (2 seeds)"] == colour["icarl, 80 images (2 seeds)"]
    assert len({colour["replay, 40 images (2 seeds)"], colour["icarl, 40 images (2 seeds)"], colour["finetune, no memory (2 seeds)"]}) == 3
    assert style["replay, 40 images (2 seeds)"] == style["icarl, 40 images (2 seeds)"] != style["replay, 80 images (2 seeds)"]
    curves = plot_budget_curves(budget_curves(groups), sweep / "c.png", styles, memory_free_levels(groups)).axes[0]
    handles, labels = curves.get_legend_handles_labels()
    assert len(labels) == 3  # icarl, replay and finetune's level
    for handle, label in zip(handles, labels):
        line = handle.lines[0] if hasattr(handle, "lines") else handle  # an errorbar, or finetune's level
        method = label.split(" ")[0].rstrip(",")
        assert to_hex(line.get_color()) == colour[next(k for k in colour if k.startswith(method))]


def test_budgets_in_their_unit_and_auc_in_memo_units(sweep, tmp_path):
    groups = _groups(sweep)
    curves = budget_curves(groups)
    assert set(curves) == {"method=icarl", "method=replay"}  # finetune keeps no memory: a level, not a curve
    replay = curves["method=replay"]
    assert replay["unit"] == "images" and replay["budgets"] == [40.0, 80.0]
    mib = [40 * IMAGE / MIB, 80 * IMAGE / MIB]
    assert replay["budgets_mib"] == pytest.approx(mib)
    assert replay["auc_a"] == pytest.approx(metrics.auc(mib, [a / 100 for a in replay["average_incremental_accuracy"]]))
    ax = plot_budget_curves(curves, tmp_path / "c.png").axes[0]
    assert ax.get_xlabel() == "memory budget (images)"
    first, second = (list(container.lines[0].get_xdata()) for container in ax.containers[:2])
    assert first == pytest.approx([40.0, 80.0], abs=1.0) and second == pytest.approx([40.0, 80.0], abs=1.0)
    assert first != second  # a small offset keeps coinciding curves apart
    # AUC in the unit of the axes drawn (% x images), MEMO's fraction x MiB in the table beside it
    assert replay["auc_a_drawn"] == pytest.approx(metrics.auc([40, 80], replay["average_incremental_accuracy"]))
    # One legend (beside the second panel) serves both: each entry gives both areas.
    fig = ax.figure
    (legend,) = [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    labels = [t.get_text() for t in legend.get_texts()]
    assert any(f"AUC-A {replay['auc_a_drawn']:,.0f}, AUC-L {replay['auc_l_drawn']:,.0f} %·images" in t for t in labels), labels
    # Each seed's own AUC: seeds 0 and 1 of the fixture differ by one point at every later stage.
    per_seed = [metrics.auc([40, 80], [np.mean([99.0, 94.0 + shift + seed, 88.0 + shift + seed]) for shift in (0.0, 2.0)])
                for seed in (0, 1)]
    assert replay["auc_seeds"] == 2
    assert replay["auc_std"]["auc_a_drawn"] == pytest.approx(np.std(per_seed, ddof=1)) and np.std(per_seed) > 0
    text = write_report(sweep).read_text()
    assert "| method=replay | digits | CNN | 2 | 40, 80 | " in text and "budgets (images)" in text and "AUC-A (% × images)" in text
    assert f"{replay['auc_a_drawn']:,.0f} ± {replay['auc_std']['auc_a_drawn']:.4g}" in text
    root = tmp_path / "kib"
    for budget in ("256 KiB", "512 KiB"):
        _run(root, budget.split()[0], budget=budget)
    (kib,) = budget_curves(_groups(root)).values()
    assert kib["unit"] == "KiB" and kib["budgets"] == [256.0, 512.0] and kib["budgets_mib"] == [0.25, 0.5]


def test_a_report_over_two_datasets_names_them(tmp_path):
    root = tmp_path / "two"
    _run(root, "a", dataset="digits", preset="demo")
    _run(root, "b", dataset="fashion-mnist", preset="fmnist-b0-inc2", stages=(97.0, 90.0, 80.0))
    fig = plot_accuracy_per_task(_groups(root), tmp_path / "t.png")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("digits (demo)") and titles[1].startswith("fashion-mnist (fmnist-b0-inc2)")
    text = write_report(root).read_text()
    assert "dataset=fashion-mnist" in text and "preset=fmnist-b0-inc2" in text


def test_latex_table_with_booktabs(sweep):
    report = write_report(sweep, latex=True)
    tex = (sweep / "report.tex").read_text()
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}", r"\end{table}"):
        assert command in tex
    assert "report.tex" in report.read_text()
    rows = [line for line in tex.splitlines() if line.endswith(r"\\") and "&" in line][1:]  # after the header
    assert len(rows) == 5
    replay = next(r for r in rows if r.startswith("replay, 40 images"))
    aia = [np.mean((99.0, 94.0 + s, 88.0 + s)) for s in (0, 1)]
    assert f"${np.mean(aia):.2f} \\pm {np.std(aia, ddof=1):.2f}$" in replay and " & digits & CNN & 2 & " in replay
    assert "sample standard deviation" in tex and "Score" in tex
    assert latex_escape("a_b & 50% #1 {x}") == r"a\_b \& 50\% \#1 \{x\}"
    single = sweep.parent / "single"
    _run(single, "a")
    write_report(single, latex=True)
    row = [line for line in (single / "report.tex").read_text().splitlines() if line.startswith("replay")][0]
    assert r"\pm" not in row and " & 1 & " in row


def test_a_later_report_keeps_the_latex_table_current(sweep):
    """A sweep re-run rewrites its report without --latex: the report.tex an earlier `retain report
    --latex` wrote must not go stale (here: a new method's runs appear in it)."""
    write_report(sweep, latex=True)
    assert "wa" not in (sweep / "report.tex").read_text()
    _run(sweep, "wa-40-0", "wa", 0, "40 images", (99.0, 93.0, 89.0))
    report = write_report(sweep)
    assert any(line.startswith("wa, 40 images") for line in (sweep / "report.tex").read_text().splitlines())
    assert "report.tex" in report.read_text()


def test_cli_report_latex(sweep):
    from typer.testing import CliRunner

    from retain.cli import app

    result = CliRunner().invoke(app, ["report", str(sweep), "--latex"])
    assert result.exit_code == 0, result.output
    assert "LaTeX table:" in result.output and "report.tex" in result.output
    assert (sweep / "report.tex").is_file() and (sweep / "plots" / "accuracy_vs_memory.pdf").is_file()


def test_cli_report_out_that_is_a_file_is_refused_naming_the_option(sweep, tmp_path):
    from typer.testing import CliRunner

    from retain.cli import app

    a_file = tmp_path / "afile"
    a_file.write_text("mine\n")
    result = CliRunner().invoke(app, ["report", str(sweep), "-o", str(a_file)])
    assert result.exit_code == 2 and "--out" in result.output and "is a file" in result.output, result.output
    assert a_file.read_text() == "mine\n" and not (sweep / "report.md").exists()


def test_the_statistic_is_the_sample_std_and_every_table_names_score_and_dataset(tmp_path):
    root = tmp_path / "two-seeds"
    _run(root, "a", method="icarl", seed=0, stages=(99.0, 95.0, 92.00))
    _run(root, "b", method="icarl", seed=1, stages=(99.0, 95.0, 93.11))
    text = write_report(root).read_text()
    assert "92.56 ± 0.78" in text  # sample std of 92.00 and 93.11; the population std would say ± 0.56
    assert "mean ± sample std (n − 1) over n seeds" in text
    assert "| digits | NME | 2 | 95.52 ± 0.26 | 92.56 ± 0.78 |" in text  # the summary names dataset, score set and n
    rows = (root / "runs.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert "score" in header and rows[1].split(",")[header.index("score")] == "NME"


def test_a_memory_free_baseline_is_clipped_with_a_note(sweep):
    ax = plot_accuracy_per_task(_groups(sweep), sweep / "t.png").axes[0]
    low, high = ax.get_ylim()
    assert low > 80  # from replay and icarl (86-99.5), not finetune's 33
    notes = [t.get_text() for t in ax.texts]
    assert any("clipped: finetune" in note and "33.0" in note for note in notes)
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # the legend is outside the axes


def test_a_budget_sweep_gets_one_memory_comparison(sweep):
    text = write_report(sweep).read_text()
    assert "plots/memory.png" in text and not list((sweep / "plots").glob("memory-*.png"))


def test_a_memory_plot_names_the_dataset_and_seeds_and_sizes_every_item(tmp_path):
    """The title says which dataset and how many seeds; the legend gives each item's bytes, so an
    item too small to see beside the images (IL2M's class statistics) is still read."""
    for seed in (0, 1):
        _run(tmp_path, f"il2m-{seed}", "il2m", seed, dataset="fashion-mnist")
        path = tmp_path / f"il2m-{seed}" / "results.json"
        results = json.loads(path.read_text())
        for entry in results["ledger"]:
            entry["items"]["class_statistics"] = 52
        path.write_text(json.dumps(results))
    records = collect_runs(tmp_path)
    ax = plot_memory("method=il2m", records, tmp_path / "m.png").axes[0]
    assert ax.get_title().startswith("fashion-mnist: memory composition of") and "mean of 2 seeds" in ax.get_title()
    labels = ax.get_legend_handles_labels()[1]
    assert "class_statistics (52 bytes after task 3)" in labels and f"exemplars ({40 * IMAGE:,} bytes after task 3)" in labels
