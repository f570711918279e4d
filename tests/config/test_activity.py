"""The dependency table of the schema (retain.config.activity): every field has an entry, a setting the
user chose that the run would not read is refused (or noted), and config.yaml round-trips."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retain.config.activity import ACTIVITY, schema_fields
from retain.errors import ConfigError
from retain.runs.config import build_config, config_to_dict
from retain.presets import preset_names
from retain.runs.results import read_config_sources, write_config_yaml


def test_every_field_of_the_schema_has_an_entry_and_no_entry_is_stale():
    fields = set(schema_fields())
    assert fields == set(ACTIVITY), (fields - set(ACTIVITY), set(ACTIVITY) - fields)


@pytest.mark.parametrize("sets, field, needs", [
    (["scenario.order=natural", "scenario.order_seed=5"], "scenario.order_seed", "scenario.order = shuffle"),
    (["scenario.blurry=50"], "scenario.blurry", "scenario.kind = blurry"),
    (["memory.per_class=5", "memory.budget=100 images"], "memory.per_class", "memory.budget unset"),
    (["train.milestones=[2]"], "train.milestones", "train.schedule = multistep"),
    (["train.patience=3"], "train.patience", "train.schedule = plateau"),
    (["memory.quality=50"], "memory.quality", "memory.codec = jpeg"),
    (["augment.cutmix_p=0.9"], "augment.cutmix_p", "augment.cutmix = true"),
    (["budget.reference_exemplars=500"], "budget.reference_exemplars", "budget.protocol = fair or auc"),
    (["logging.mlflow_uri=file:/tmp/x"], "logging.mlflow_uri", "logging.mlflow = true"),
])
def test_a_setting_the_user_chose_that_takes_no_effect_is_refused(sets, field, needs):
    with pytest.raises(ConfigError) as info:
        build_config(preset="demo", overrides=sets)
    message = " ".join(str(info.value).split())
    assert f"{field}=" in message and needs in message and "no effect" in message


def test_the_same_setting_where_it_takes_effect_is_accepted():
    build_config(preset="demo", overrides=["scenario.order=shuffle", "scenario.order_seed=5"])
    build_config(preset="demo", overrides=["train.schedule=multistep", "train.milestones=[2]"])
    build_config(preset="demo", overrides=["memory.codec=jpeg", "memory.quality=50"])


def test_a_preset_value_made_inactive_by_the_user_is_not_refused_and_a_default_value_is_not_a_choice():
    # demo sets order_seed; the user turns ordering off: nothing the user wrote is ignored.
    build_config(preset="demo", overrides=["scenario.order=natural"])
    # Writing the default value of an inactive field changes nothing (config.yaml holds every field).
    build_config(preset="demo", overrides=["scenario.blurry=10"])


def test_a_setting_that_only_warns_is_kept_as_a_note():
    config = build_config(preset="demo", overrides=["distributed.backend=gloo"])
    assert any("distributed.backend" in note for note in config._notes)


def test_non_finite_numbers_and_integers_beyond_their_range_are_refused_at_validation():
    for sets, field in [("train.gamma=.inf", "train.gamma"), ("train.lr=.nan", "train.lr"),
                        ("method.temperature=.inf", "temperature"), ("augment.brightness=.inf", "augment.brightness"),
                        ("train.batch_size=3000000000", "train.batch_size"), ("seed=100000000000000000000", "seed")]:
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            build_config(preset="demo", overrides=[sets])


def test_a_file_preset_and_another_preset_option_are_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: fmnist-b0-inc2\ntrain: {epochs: 1}\n")
    with pytest.raises(ConfigError, match="names preset: fmnist-b0-inc2 and --preset demo"):
        build_config(config_path=path, preset="demo")
    assert build_config(config_path=path, preset="fmnist-b0-inc2").preset == "fmnist-b0-inc2"


def test_sources_say_where_every_value_came_from(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {epochs: 3}\n")
    config = build_config(config_path=path, preset="demo", overrides=["train.lr=0.05"], seed=4)
    sources = config._sources
    assert sources["train.epochs"] == f"file {path}"
    assert sources["train.lr"] == "--set" and sources["seed"] == "--seed" and sources["preset"] == "--preset"
    assert sources["train.batch_size"] == "preset demo"
    write_config_yaml(tmp_path / "config.yaml", config_to_dict(config), sources)
    assert read_config_sources(tmp_path / "config.yaml") == sources


# Valid settings to combine (each: field, values); a combination the activity table refuses is skipped.
_POOL = {
    "train.epochs": st.integers(1, 9),
    "train.lr": st.floats(1e-4, 1.0, allow_nan=False),
    "train.batch_size": st.integers(1, 512),
    "train.momentum": st.sampled_from([0.0, 0.5, 0.9]),
    "train.schedule": st.sampled_from(["constant", "multistep", "cosine", "plateau"]),
    "train.milestones": st.lists(st.integers(1, 9), max_size=3),
    "train.gamma": st.floats(0.01, 1.0),
    "scenario.order": st.sampled_from(["natural", "shuffle"]),
    "scenario.order_seed": st.integers(0, 2**32 - 1),
    "scenario.increment": st.sampled_from([1, 2, 5]),
    "seed": st.integers(0, 2**63 - 1),
    "method.name": st.sampled_from(["finetune", "replay", "icarl", "lucir", "er_ace"]),
    "memory.budget": st.sampled_from(["100 images", "2 MiB", 20000]),
    "memory.codec": st.sampled_from(["raw", "jpeg"]),
    "augment.flip": st.booleans(),
    "augment.brightness": st.floats(0, 1),
    "eval.every_epoch": st.booleans(),
}


@st.composite
def _configs(draw):
    preset = draw(st.sampled_from([None, *preset_names()]))
    fields = draw(st.lists(st.sampled_from(sorted(_POOL)), unique=True, max_size=6))
    sets = [f"{field}={yaml.safe_dump(draw(_POOL[field]), default_flow_style=True).strip().removesuffix('...').strip()}"
            for field in fields]
    return preset, sets


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_configs())
def test_config_yaml_round_trips_bit_for_bit(tmp_path_factory, case):
    preset, sets = case
    try:
        config = build_config(preset=preset, overrides=sets)
    except ConfigError:
        return  # a combination refused (a setting without effect, an unknown method parameter): not a valid config
    folder = tmp_path_factory.mktemp("rt")
    write_config_yaml(folder / "config.yaml", config_to_dict(config), config._sources)
    again = build_config(config_path=folder / "config.yaml")
    assert config_to_dict(again) == config_to_dict(config)
    write_config_yaml(folder / "again.yaml", config_to_dict(again), {})
    body = (folder / "config.yaml").read_text().split("\n")
    body = "\n".join(line for line in body if not line.startswith("#"))
    assert (folder / "again.yaml").read_text() == body


def _by_method_cases() -> list[tuple[str, str]]:
    from retain.presets import preset_by_method
    return [(preset, method) for preset in preset_names() for method in preset_by_method(preset)]


@pytest.mark.parametrize("preset,method", _by_method_cases())
@pytest.mark.parametrize("extra", [[], ["train.schedule=constant"]])
def test_config_yaml_of_a_preset_method_runs_again(tmp_path, preset, method, extra):
    """A preset's per-method values (by_method) land in config.yaml like any value; reading that file
    back must give the same run, not refuse the values as the user's (the fault CI found: finetune's
    milestones under cifar100-b0-inc10 with a constant schedule)."""
    config = build_config(preset=preset, overrides=[f"method.name={method}", *extra])
    write_config_yaml(tmp_path / "config.yaml", config_to_dict(config), config._sources)
    assert config_to_dict(build_config(config_path=tmp_path / "config.yaml")) == config_to_dict(config)


# Values a field is read with that can never change the run (activity.UNREACHABLE): the rule must
# say "no effect" exactly when torch's scheduler, stepped once per epoch as the trainer does,
# leaves the lr of every epoch unchanged (a constant loss is the plateau's most eager case).
def _lrs_of_a_phase(config, first_task: bool) -> list[float]:
    import torch

    from retain.engine.optim import build_scheduler
    epochs = config.train.first_epochs if first_task and config.train.first_epochs is not None else config.train.epochs
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(optimizer, config.train, epochs, first_task)
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(1.0) if config.train.schedule == "plateau" else scheduler.step()
    return lrs


def _moves_the_lr(config, first_task: bool) -> bool:
    return len(set(_lrs_of_a_phase(config, first_task))) > 1


@pytest.mark.parametrize("gamma", [0.1, 1.0])
@pytest.mark.parametrize("first_epochs", [None, 2, 6])
def test_the_milestone_rules_agree_with_the_scheduler(gamma, first_epochs):
    from retain.config.activity import UNREACHABLE
    from retain.config.schema import RetainConfig
    for epochs in range(1, 7):
        for milestone in range(1, 8):
            train = {"schedule": "multistep", "epochs": epochs, "first_epochs": first_epochs, "gamma": gamma}
            later = RetainConfig.model_validate({"train": {**train, "milestones": [milestone]}})
            takes = _moves_the_lr(later, False) or _moves_the_lr(later, True)
            assert (UNREACHABLE["train.milestones"](later) is None) == takes, (train, milestone)
            first = RetainConfig.model_validate({"train": {**train, "first_milestones": [milestone]}})
            assert (UNREACHABLE["train.first_milestones"](first) is None) == _moves_the_lr(first, True), (train, milestone)


@pytest.mark.parametrize("first_epochs", [None, 3, 8])
def test_the_patience_rules_agree_with_the_scheduler(first_epochs):
    from retain.config.activity import UNREACHABLE
    from retain.config.schema import RetainConfig
    for epochs in range(1, 9):
        for patience in range(0, 8):
            train = {"schedule": "plateau", "epochs": epochs, "first_epochs": first_epochs, "gamma": 0.1}
            later = RetainConfig.model_validate({"train": {**train, "patience": patience}})
            takes = _moves_the_lr(later, False) or _moves_the_lr(later, True)
            assert (UNREACHABLE["train.patience"](later) is None) == takes, (train, patience)
            first = RetainConfig.model_validate({"train": {**train, "first_patience": patience}})
            assert (UNREACHABLE["train.first_patience"](first) is None) == _moves_the_lr(first, True), (train, patience)


def test_a_value_that_can_never_take_effect_is_refused_when_chosen_and_said_when_a_presets():
    with pytest.raises(ConfigError) as info:  # the stranger's case: a milestone past the only epoch
        build_config(preset="demo", overrides=["train.schedule=multistep", "train.milestones=[50]", "train.epochs=1"])
    message = " ".join(str(info.value).split())
    assert "train.milestones=[50]" in message and "[50] are not below the 1 epochs" in message
    with pytest.raises(ConfigError, match="checkpoint.every_epochs|augment.cutmix"):
        build_config(preset="demo", overrides=["augment.cutmix=true", "augment.cutmix_p=0"])
    # The preset's milestones [40, 70] made moot by the user's 30 epochs: said, not refused.
    config = build_config(preset="cifar100-b0-inc10", overrides=["train.epochs=30"])
    assert any("train.milestones=[40, 70]" in note for note in config._notes), config._notes
    # A default made moot by the user's schedule (patience 5 in 5 epochs), and il2m-fmnist's own patience.
    assert any("train.patience=5" in note for note in build_config(preset="demo", overrides=["train.schedule=plateau", "train.epochs=5"])._notes)
    assert {n.split("=")[0] for n in build_config(preset="il2m-fmnist")._notes} >= {"train.patience", "train.first_patience"}
    # Where the value does take effect nothing is said.
    quiet = build_config(preset="demo", overrides=["train.schedule=multistep", "train.milestones=[3]", "train.epochs=5",
                                                   "checkpoint.every_epochs=2"])
    assert not [n for n in quiet._notes if "no effect" in n], quiet._notes
    noted = build_config(preset="demo", overrides=["checkpoint.every_epochs=20"])  # demo trains 20 epochs a task
    assert any(n.startswith("checkpoint.every_epochs=20") for n in noted._notes), noted._notes


def test_a_budget_the_user_sets_under_a_derived_protocol_is_refused_and_a_presets_is_said():
    """fair and auc derive the budget from budget.reference_*: a memory.budget the user writes there
    would never be read (the stranger's run trained at the 0.87 MiB point with `-q` saying nothing)."""
    with pytest.raises(ConfigError) as info:
        build_config(preset="memo-fmnist-fair", overrides=["memory.budget=300 images"])
    message = " ".join(str(info.value).split())
    assert "memory.budget='300 images' takes no effect" in message and "budget.protocol = benchmark" in message
    # The demo's own budget under a protocol the user chose is the preset's: not refused.
    assert build_config(preset="demo", overrides=["budget.protocol=fair"]).budget.protocol == "fair"


@pytest.mark.parametrize("setting", ["method.rq_grid=[90, 10]", "method.rq_tolerance=0.5", "method.rq_every_task=false",
                                     "method.rq_select_on=compressed"])
def test_mrdc_search_settings_with_a_fixed_quality_are_refused_and_taken_with_auto(setting):
    """A fixed memory.quality skips the Rq search, so its settings would never be read."""
    with pytest.raises(ConfigError) as info:
        build_config(preset="mrdc-fmnist", overrides=["memory.quality=50", setting])
    message = " ".join(str(info.value).split())
    assert "takes no effect" in message and setting.split("=")[0] in message and "memory.quality = auto" in message
    assert build_config(preset="mrdc-fmnist", overrides=[setting]).memory.quality == "auto"
