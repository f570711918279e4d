import pytest

from retain.errors import ConfigError
from retain.experiment.config import build_config, parse_override


def test_preset_file_and_overrides_merge(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: demo\ntrain: {epochs: 7}\n")
    cfg = build_config(path, overrides=["train.batch_size=16", "method.name=joint"], seed=3)
    assert cfg.preset == "demo"
    assert cfg.data.name == "digits"          # from the preset
    assert cfg.train.epochs == 7              # from the file
    assert cfg.train.batch_size == 16         # from --set
    assert cfg.method_name == "joint"
    assert cfg.seed == 3


def test_override_values_are_yaml():
    assert parse_override("model.options.hidden=[10, 20]") == (["model", "options", "hidden"], [10, 20])
    assert parse_override("memory.budget=500 images") == (["memory", "budget"], "500 images")


@pytest.mark.parametrize(
    "override, needle",
    [
        ("train.epochs=-1", "train.epochs"),
        ("method.name=icarll", "method.name"),
        ("train.bogus=1", "train.bogus"),
        ("scenario.kind=weird", "scenario.kind"),
    ],
)
def test_bad_values_name_the_field(override, needle):
    with pytest.raises(ConfigError) as info:
        build_config(preset="demo", overrides=[override])
    assert needle in str(info.value)


def test_unknown_method_suggests_closest():
    with pytest.raises(ConfigError, match="joint"):
        build_config(preset="demo", overrides=["method.name=jont"])


def test_unknown_preset_suggests_closest():
    with pytest.raises(ConfigError, match="fmnist-b0-inc2"):
        build_config(preset="fmnist-b0-inc3")


def test_malformed_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="dotted.key=value"):
        build_config(preset="demo", overrides=["train.epochs"])
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(tmp_path / "missing.yaml")
