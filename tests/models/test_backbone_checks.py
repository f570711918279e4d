"""A backbone is checked once when it is built: a plugin whose forward returns another width than
its `out_dim`, or options asking for more memory than there is, are refused before the run
directory is written, naming the backbone, the declared and measured width / model.options."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from retain import ConfigError, register_backbone
from retain.cli import app
from retain.models import build_backbone
from retain.models.registry import check_width

LIAR = """
    from torch import nn
    from retain import register_backbone


    class Liar(nn.Module):
        def __init__(self, in_channels, image_size):
            super().__init__()
            self.out_dim = 32
            self.body = nn.Linear(in_channels * image_size * image_size, 16)

        def forward(self, x):
            return self.body(x.flatten(1))


    @register_backbone("liar-width")
    def liar(in_channels, image_size):
        return Liar(in_channels, image_size)
"""


def _run(tmp_path, *args):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--preset", "demo", "-q", "--set", "train.epochs=1", "--set", "scenario.num_tasks=2",
                                      *args, "--out", str(out)])
    return result, out


def test_a_plugin_backbone_whose_forward_returns_another_width_than_out_dim_is_refused_before_writing(tmp_path):
    plugin = tmp_path / "liar.py"
    plugin.write_text(textwrap.dedent(LIAR))
    result, out = _run(tmp_path, "--import", str(plugin), "--set", "model.backbone=liar-width", "--set", "model.options={}")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in text and "mat1" not in text
    assert "'liar-width'" in text and "out_dim=32" in text and "measured width 16" in text
    assert not out.exists()  # refused before config.yaml or plan.json was written


def test_backbone_options_too_large_for_memory_are_refused_naming_model_options_and_the_bytes(tmp_path):
    result, out = _run(tmp_path, "--set", "model.options.hidden=[100000000000]")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in text and "DefaultCPUAllocator" not in text
    assert "model.options" in text and "100000000000" in text and " bytes" in text and "'mlp'" in text
    assert not out.exists()


def test_the_width_probe_leaves_the_mode_and_the_running_statistics_as_they_were():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten())
    net.out_dim = 4 * 6 * 6
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    check_width("probe", net, 1, 8)
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    net.out_dim = 5
    net.eval()
    with pytest.raises(ConfigError, match=r"declares out_dim=5 .*measured width 144"):
        check_width("probe", net, 1, 8)
    assert not net.training


def test_a_builtin_backbone_passes_its_own_probe():
    assert build_backbone("mlp", 1, 8, hidden=[7]).out_dim == 7
