"""The shipped MAER claim grids (issue 24 item 3): each expands to the cells its comment promises."""

import pytest

from retain.sweeps.sweep import expand_cells, grid_description, grid_names, load_grid, resolve_grid


@pytest.mark.parametrize("name, method, budgets, baseline", [
    ("maer-fmnist-k", "maer", ["100 images", "200 images", "500 images", "2000 images"], "balanced_reservoir"),
    ("maer-fmnist-derpp-k", "derpp", ["200 images", "2000 images"], "reservoir"),
    ("maer-fmnist-erace-k", "er_ace", ["200 images", "2000 images"], "reservoir"),
])
def test_the_maer_grids_cross_seeds_budgets_and_selections(tmp_path, name, method, budgets, baseline):
    path = resolve_grid(name)
    assert name in grid_names() and "MAER" in grid_description(name)
    assert f"Run: `retain sweep {name}`" in path.read_text()  # the grid says how to run it
    cells = expand_cells(load_grid(path), path, tmp_path / "sweep")
    assert len(cells) == 3 * len(budgets) * 4
    assert {c.config["seed"] for c in cells} == {1, 2, 3}
    assert sorted({c.config["memory"]["budget"] for c in cells}) == sorted(budgets)
    chosen = {(c.config["memory"]["policy"], c.config["method"]["maer_policy"]) for c in cells}
    assert chosen == {("maer", "min"), ("maer", "middle"), ("maer", "max"), (baseline, "min")}
    for cell in cells:  # the preset's recipe, one torch thread, the method under test
        config = cell.config
        assert config["method"]["name"] == method and config["train"]["threads"] == 1
        assert config["data"]["name"] == "fashion-mnist" and config["model"]["head"] == "full"
        assert config["train"]["epochs"] == 2 and config["memory"]["batch_size"] == 32
