"""A user's dataset loader and memory policy are the user's own code: a loader raising, options of
the wrong type, or an `order()` returning repeated / out-of-range indices give one paragraph naming
the plugin and what it did, never a traceback or an error that blames retain's run directory."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from retain.cli import app

DATASET = """
    import numpy as np
    from retain import register_dataset


    def _arrays(n):
        rng = np.random.default_rng(0)
        labels = np.arange(n) % 4
        images = (rng.integers(0, 60, size=(n, 1, 8, 8)) + labels[:, None, None, None] * 40).astype(np.uint8)
        return images, labels


    def _disk():
        raise {error}


    @register_dataset("{name}")
    def loader(request, *, n: int = 40):
        if {fails}:
            _disk()
        images, labels = _arrays(n)
        return images, labels, images[:20], labels[:20]
"""

POLICY = """
    import torch
    from retain import MemoryPolicy, register_policy


    @register_policy("{name}")
    class Bad(MemoryPolicy):
        def order(self, count, generator, features=None, limit=None):
            return {expr}
"""

BASE = ["--preset", "demo", "-q", "--set", "train.epochs=1", "--set", "scenario.num_tasks=2", "--set", "logging.report=false"]


def _invoke(tmp_path, plugin_text, *args):
    plugin = tmp_path / f"plugin_{abs(hash(plugin_text)) % 10**8}.py"
    plugin.write_text(textwrap.dedent(plugin_text))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", *BASE, "--import", str(plugin), *args, "--out", str(out)])
    return result, plugin, out, " ".join(result.output.split())


@pytest.mark.parametrize("error", ['ValueError("bad row 3")', 'OSError("disk gone")'])
def test_a_dataset_loader_raising_names_the_loader_its_file_and_the_message(tmp_path, error):
    name = f"raising-{error[:2].lower()}"
    result, plugin, out, text = _invoke(tmp_path, DATASET.format(name=name, error=error, fails=True), "--set", f"data.name={name}")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in text and "Cannot write the run directory" not in text
    assert error.split("(")[0] in text and error.split('"')[1] in text  # the user's exception and message
    assert f"Dataset loader '{name}'" in text and str(plugin) in text and "_disk" in text
    assert not out.exists()


def test_a_dataset_option_of_the_wrong_type_is_refused_at_config_build_naming_the_option(tmp_path):
    result, plugin, out, text = _invoke(tmp_path, DATASET.format(name="typed-n", error="None", fails=False),
                                        "--set", "data.name=typed-n", "--set", "data.options.n=abc")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in text and "UFunc" not in text
    assert "data.options.n = 'abc'" in text and "int" in text
    assert not out.exists()


@pytest.mark.parametrize("label,expr,shown", [
    ("repeated", "torch.zeros(count, dtype=torch.long)", "repeated indices"),
    ("range", "torch.arange(count) + 5", "out of range"),
    ("float", "torch.rand(count)", "dtype torch.float32"),
])
def test_a_memory_policy_order_of_repeated_or_out_of_range_indices_names_the_policy(tmp_path, label, expr, shown):
    name = f"bad-order-{label}"
    result, plugin, out, text = _invoke(tmp_path, POLICY.format(name=name, expr=expr), "--set", f"memory.policy={name}")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in text
    assert f"Memory policy '{name}'" in text and ".order)" in text and shown in text
    assert f"retain run --resume {out}" in text  # the run had started: the paragraph says how to go on
    assert not (out / "results.json").exists() or json.loads((out / "results.json").read_text())["completed_tasks"] == 0
