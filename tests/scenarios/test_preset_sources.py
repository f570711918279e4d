"""Presets that name a paper or a peer's protocol say where every value comes from (issue 24
item 4): each entry of a preset's `sources` table pins the value the preset resolves to, every
value the preset sets has an entry, and `retain list presets NAME` shows the table."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from retain.cli import app
from retain.config import config_to_dict
from retain.runs.config import build_config
from retain.presets import load_preset, preset_by_method, preset_names, preset_sources

# retain's own protocols (no source to cite). The older rm-* presets belong to issue 23's helper
# (they gain their table there); every other shipped preset names a paper or a peer protocol.
OWN = {"demo", "fmnist-b0-inc2"}
SOURCED_RM = {"rm-imagenet-blurry10-online"}
PAPER_PRESETS = [n for n in preset_names() if n not in OWN and (not n.startswith("rm-") or n in SOURCED_RM)]
IMAGENET_PRESETS = {"imagenet100-b50-inc10", "imagenet-b500-inc100", "il2m-imagenet", "rm-imagenet-blurry10-online",
                    "memo-imagenet100", "maer-tinyimagenet"}
# What every paper/peer protocol fixes and the table must therefore cite (spec §1.6, §2.4, §4.3, §5.5).
REQUIRED = ("data.name", "scenario.kind", "scenario.base", "scenario.increment", "scenario.order",
            "model.backbone", "memory.budget", "train.epochs", "train.lr", "train.momentum",
            "train.weight_decay", "train.batch_size", "train.schedule")
KINDS = {"from", "departure", "retain"}


def _resolved(name: str, method: str | None = None) -> dict:
    overrides = [f"method.name={method}"] if method else []
    return config_to_dict(build_config(preset=name, overrides=overrides, seed=0))


def _get(tree: dict, dotted: str):
    node = tree
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"{dotted} is not a config field"
        node = node[part]
    return node


def _leaves(tree: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out += _leaves(value, path + ".") if isinstance(value, dict) and value else [path]
    return out


def _base_method(name: str, field: str) -> str:
    """A method for which an entry without `methods` holds: the preset's own, unless `by_method`
    gives it its own value for the field (then another method without one)."""
    overlays = preset_by_method(name)
    for method in (load_preset(name)["method"]["name"], "icarl", "lucir", "replay"):
        if field not in _leaves(overlays.get(method, {})):
            return method
    raise AssertionError(f"{name}: every candidate method overrides {field}")


def test_the_paper_presets_are_the_ones_expected():
    assert {"cifar100-b0-inc10", "cifar100-b50-inc10", "mrdc-cifar100-b50-inc10", "il2m-fmnist",
            "maer-cifar10", "maer-cifar100", "maer-fmnist", "mrdc-fmnist", "avalanche-fmnist",
            "memo-fmnist-fair"} | IMAGENET_PRESETS <= set(PAPER_PRESETS)


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_every_source_entry_pins_the_value_the_preset_resolves_to(name):
    entries = preset_sources(name)
    assert entries, f"{name} names a paper or peer protocol but has no sources table"
    cache: dict = {}
    for entry in entries:
        assert set(entry) - {"field", "value", "methods"} in ({k} for k in KINDS), entry
        assert str(entry[next(iter(set(entry) & KINDS))]).strip(), entry
        for method in entry.get("methods") or [_base_method(name, entry["field"])]:
            resolved = cache.setdefault(method, _resolved(name, method))
            assert _get(resolved, entry["field"]) == entry["value"], (name, method, entry)


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_every_value_the_preset_sets_and_every_required_field_has_a_source(name):
    cited = {(e["field"], m) for e in preset_sources(name) for m in (e.get("methods") or [None])}
    fields = {f for f, _ in cited}
    set_here = _leaves(load_preset(name))
    missing = [f for f in set_here if f not in fields]
    # A memory-aligned preset derives memory.budget from its reference (budget.reference_*).
    aligned = load_preset(name).get("budget", {}).get("protocol", "benchmark") != "benchmark"
    required = [("budget.reference_exemplars" if aligned and f == "memory.budget" else f) for f in REQUIRED]
    missing += [f for f in required if f not in fields]
    for method, overlay in preset_by_method(name).items():
        missing += [f"{f} ({method})" for f in _leaves(overlay) if (f, method) not in cited]
    assert not missing, f"{name}: no source for {sorted(set(missing))}"


def test_per_method_milestones_of_the_cifar100_b0_preset():
    assert _resolved("cifar100-b0-inc10", "memo")["train"]["milestones"] == [80, 120, 150]
    assert _resolved("cifar100-b0-inc10", "der")["train"]["milestones"] == [80, 120, 150]
    assert _resolved("cifar100-b0-inc10", "wa")["train"]["milestones"] == [60, 100, 140]
    icarl = _resolved("cifar100-b0-inc10", "icarl")["train"]
    assert (icarl["epochs"], icarl["milestones"]) == (170, [80, 120])
    # A value the user sets wins over the method's, from --set, a grid axis or the API alike.
    mine = build_config(preset="cifar100-b0-inc10", overrides=["method.name=wa", "train.milestones=[50]"])
    assert mine.train.milestones == [50]
    from retain.api import make_config

    assert make_config("cifar100-b0-inc10", method="wa").train.milestones == [60, 100, 140]
    assert make_config("cifar100-b0-inc10", method="wa", train__milestones=[70]).train.milestones == [70]
    # The first task keeps the shared init schedule.
    assert _resolved("cifar100-b0-inc10", "wa")["train"]["first_milestones"] == [60, 120, 170]


def test_a_grid_cell_gets_its_methods_values(tmp_path):
    import yaml

    from retain.sweeps.sweep import expand_cells, load_grid

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": {"preset": "cifar100-b0-inc10"}, "axes": {"method": ["icarl", "wa", "memo"]}}))
    cells = expand_cells(load_grid(grid), grid, tmp_path / "sweep")
    got = {c.config["method"]["name"]: c.config["train"]["milestones"] for c in cells}
    assert got == {"icarl": [80, 120], "wa": [60, 100, 140], "memo": [80, 120, 150]}


def test_list_presets_name_shows_the_sources_table():
    result = CliRunner().invoke(app, ["list", "presets", "cifar100-b0-inc10"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "version 3" in text and "models/wa.py:25" in text and "[60, 100, 140]" in text
    assert "main_memo.py:52" in text
    # A value that methods with their own row do not get says so.
    assert "│ train.epochs │ 170 │ all but finetune, replay │" in text, text
    lucir = " ".join(CliRunner().invoke(app, ["list", "presets", "cifar100-b50-inc10"], env={"COLUMNS": "250"}).output.split())
    assert "[0.2009, 0.1984, 0.2023]" in lucir and "class_incremental_cosine_cifar100.py:112" in lucir
    own = CliRunner().invoke(app, ["list", "presets", "demo"])
    assert own.exit_code == 0 and "no sources table" in own.output
    unknown = CliRunner().invoke(app, ["list", "presets", "cifar100-b0-inc1"])
    assert unknown.exit_code != 0 and "cifar100-b0-inc10" in unknown.output


def test_the_memo_auc_grid_holds_four_aligned_budgets_for_four_methods_and_three_seeds(tmp_path):
    from retain.sweeps.sweep import expand_cells, load_grid, resolve_grid

    path = resolve_grid("memo-fmnist-auc")
    cells = expand_cells(load_grid(path), path, tmp_path / "sweep")
    assert len(cells) == 3 * 4 * 4
    assert {c.config["method"]["name"] for c in cells} == {"memo", "der", "icarl", "replay"}
    assert {c.config["budget"]["point"] for c in cells} == {1, 2, 3, 4}
    memo = [c.config for c in cells if c.config["method"]["name"] == "memo"]
    # The recipe fits each task: a decaying schedule with weight decay, not a constant lr.
    assert all(c["train"]["schedule"] == "multistep" and c["train"]["weight_decay"] > 0 for c in memo)
    assert {c["budget"]["protocol"] for c in memo} == {"auc"}


def test_a_narrow_terminal_gets_the_sources_as_a_list_with_whole_lines():
    """At 80 columns a four-column table left the source one to three words a line: each row is a
    `field = value [methods]` line with its source wrapped below it at the terminal's width."""
    result = CliRunner().invoke(app, ["list", "presets", "il2m-fmnist"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "train.accumulate_reduction = 'sum' [all]" in lines
    source = lines[lines.index("train.accumulate_reduction = 'sum' [all]") + 1]
    assert source.startswith("    IL2M il2m/codes/ft.py:249-253") and 60 <= len(source) <= 80
    assert all(len(line) <= 80 for line in lines if line.startswith("    "))
