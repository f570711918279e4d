import pytest

from retain.errors import ConfigError
from retain.presets import preset_by_method, preset_names
from retain.runs.config import build_config, parse_override


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


def _message(**kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        build_config(**kwargs)
    return " ".join(str(info.value).split())


def test_an_unknown_preset_is_blamed_on_where_it_was_written(tmp_path):
    (tmp_path / "c.yaml").write_text("preset: nope\n")
    said = _message(config_path=tmp_path / "c.yaml")
    assert f"preset: in {tmp_path / 'c.yaml'}" in said and "--preset" not in said
    assert "(--preset)" in _message(preset="nope")


def _presets_with_model_options():
    from retain.presets import load_preset, preset_names
    return [name for name in preset_names() if load_preset(name).get("model", {}).get("options")]


@pytest.mark.parametrize("preset", _presets_with_model_options())
def test_a_backbone_swap_refused_for_the_presets_options_says_they_are_the_presets(preset):
    from retain.presets import load_preset
    from retain.models import backbone_names
    from retain.models.registry import backbone_builder
    from retain.config.options import accepts_any_keyword, keyword_options

    options = load_preset(preset)["model"]["options"]
    others = [name for name in backbone_names() if not accepts_any_keyword(backbone_builder(name))
              and not set(options) <= set(keyword_options(backbone_builder(name)))]
    assert others
    said = _message(preset=preset, overrides=[f"model.backbone={others[0]}"])
    assert f"model.options={options!r} is the preset {preset}'s" in said, said
    # Written by the user, the same value is not blamed on the preset.
    yours = _message(preset=preset, overrides=[f"model.backbone={others[0]}", f"model.options={options}"])
    assert "is the preset" not in yours and "model.options" in yours


def test_a_method_switched_in_a_runs_config_yaml_names_whose_parameters_are_left(tmp_path):
    import yaml

    from retain.runs.results import write_config_yaml
    from retain.runs.config import config_to_dict
    config = build_config(preset="demo", overrides=["method.name=icarl"])
    tree = config_to_dict(config)
    tree["method"] = {**tree["method"], "name": "lucir"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tree))
    said = _message(config_path=tmp_path / "config.yaml")
    assert "`method.loss` is not a known setting" in said and "method.name='lucir'" in said
    assert "They are parameters of icarl" in said
    typo = _message(preset="demo", overrides=["method.name=icarl", "method.temprature=3"])
    assert "did you mean `method.temperature`?" in typo and "They are parameters of" not in typo


def _memory_notes(config) -> list[str]:
    from retain.runs.config import ignored_settings

    return [note for note in ignored_settings(config) if "keeps no memory" in note]


@pytest.mark.parametrize("preset", preset_names())
def test_no_preset_notes_its_own_memory_as_ignored(preset):
    """A preset's budget is not the user's setting: its own default method, and each method it has
    values for (`by_method`), say nothing about the memory of a method that keeps none."""
    methods = [None, *sorted(preset_by_method(preset))]
    for method in methods:
        config = build_config(preset=preset, overrides=[f"method.name={method}"] if method else [])
        assert _memory_notes(config) == [], (preset, method)


def test_memory_the_user_sets_on_a_method_without_memory_is_noted():
    assert _memory_notes(build_config(preset="demo", overrides=["method.name=finetune"])) == []
    noted = _memory_notes(build_config(preset="demo", overrides=["method.name=finetune", "memory.budget=40 images"]))
    assert len(noted) == 1 and "memory.budget='40 images'" in noted[0]
    bare = _memory_notes(build_config(overrides=["method.name=finetune", "memory.policy=herding"]))
    assert len(bare) == 1 and "memory.policy='herding'" in bare[0]


@pytest.mark.parametrize("preset", preset_names())
def test_a_misspelt_key_is_not_blamed_on_the_preset_value_it_resembles(preset):
    """`--set train.epoch=1` is refused with the suggestion `train.epochs`; the preset's own
    train.epochs is not what went wrong, so the message does not say it is the preset's."""
    from retain.config.activity import ACTIVITY, value_at
    from retain.presets import load_preset

    tree = load_preset(preset)
    for field in [f for f in ACTIVITY if "." in f and value_at(tree, f) is not None][:4]:
        typo = field[:-1]
        if typo in ACTIVITY:
            continue
        said = _message(preset=preset, overrides=[f"{typo}=1"])
        assert f"did you mean `{field}`" in said and "is the preset" not in said, said


def test_a_moved_setting_given_in_both_homes_is_refused_and_the_old_one_alone_still_works():
    said = _message(preset="maer-fmnist", overrides=["memory.maer_policy=max", "method.maer_policy=min"])
    assert "memory.maer_policy='max' (its old spelling) and method.maer_policy='min' set one setting twice" in said
    with pytest.warns(Warning, match="memory.maer_policy is deprecated"):
        assert build_config(preset="maer-fmnist", overrides=["memory.maer_policy=max"]).method_params["maer_policy"] == "max"


def test_a_grid_setting_a_moved_setting_in_both_homes_is_refused(tmp_path):
    from retain.errors import SweepError
    from retain.sweeps.sweep import expand_cells, load_grid

    grid = tmp_path / "g.yaml"
    grid.write_text("base: {preset: maer-fmnist, memory: {maer_policy: max}}\naxes: {method.maer_policy: [min, middle]}\n")
    with pytest.raises((ConfigError, SweepError), match="set one setting twice"), \
            pytest.warns(Warning, match="memory.maer_policy is deprecated"):
        expand_cells(load_grid(grid), grid, tmp_path / "sweep")


def test_an_unknown_preset_is_named_where_it_was_written():
    assert "Unknown preset (--set preset) 'abc'" in _message(overrides=["preset=abc"])
    assert "Unknown preset (--preset) 'abc'" in _message(preset="abc")
    from retain import catalog

    with pytest.raises(ConfigError, match=r"Unknown preset \(retain list presets NAME\) 'nosuch'"):
        catalog.preset_source_rows("nosuch")
