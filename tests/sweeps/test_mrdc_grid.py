"""The shipped MRDC quality-scan grid (issue 24, MRDC's claim 2): every quality of the Rq criterion's
grid and `auto`, on the mrdc-fmnist recipe with one torch thread."""

from retain.memory.quality import DEFAULT_GRID
from retain.sweeps.sweep import expand_cells, grid_names, load_grid, resolve_grid


def test_the_quality_scan_crosses_seeds_with_auto_and_every_grid_quality(tmp_path):
    path = resolve_grid("mrdc-fmnist-q")
    assert "mrdc-fmnist-q" in grid_names() and "Run: `retain sweep mrdc-fmnist-q`" in path.read_text()
    cells = expand_cells(load_grid(path), path, tmp_path / "sweep")
    assert len(cells) == 3 * (len(DEFAULT_GRID) + 1)
    assert {c.config["memory"]["quality"] for c in cells} == {"auto", *DEFAULT_GRID}
    assert {c.config["seed"] for c in cells} == {1, 2, 3}
    for cell in cells:
        config = cell.config
        assert config["method"]["name"] == "mrdc" and config["memory"]["codec"] == "jpeg"
        assert config["train"]["threads"] == 1 and config["data"]["name"] == "fashion-mnist"
