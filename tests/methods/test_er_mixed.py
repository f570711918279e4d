"""ER-mixed (RM's memory-replaying finetune): one pool of stream + memory, RM's memory update."""

import torch

from retain.runs.config import build_config
from retain.runs.loop import build_setup, run

OVERRIDES = ["method.name=er_mixed", "scenario.kind=blurry", "memory.budget=100 images", "train.epochs=2"]


def test_offline_is_one_concat_phase_and_online_two():
    setup = build_setup(build_config(preset="demo", overrides=OVERRIDES, seed=1))
    task = setup.plan.tasks[0]
    (phase,) = setup.method.training_phases(task)
    assert phase.memory == "concat" and phase.epochs == 2 and phase.stream.numel() == len(task.train_indices)
    online = build_setup(build_config(preset="demo", overrides=[*OVERRIDES, "scenario.stream=online"], seed=1))
    first, second = online.method.training_phases(task)
    assert (first.epochs, second.epochs, second.stream.numel()) == (1, 2, 0)
    assert second.batch_size == online.config.train.batch_size


def test_memory_is_stream_union_memory_and_class_balanced(tmp_path):
    result = run(build_config(preset="demo", overrides=OVERRIDES, seed=1), out=tmp_path / "er")
    # The memory holds min(K, candidates); task 1's minor classes have few samples, so their
    # unused slots go to other classes at random ("breaking the equilibrium").
    assert all(entry["exemplars"] == 100 for entry in result["ledger"])
    # By the last task every class has had its home task and old rows compete as candidates:
    # each class gets at least its quota k = ⌊100/10⌋.
    last = result["ledger"][-1]["exemplars_per_class"]
    assert len(last) == 10 and min(last.values()) >= 10
    assert result["metrics"]["last_accuracy"] > 40


def test_finetune_stays_memory_free():
    setup = build_setup(build_config(preset="demo", overrides=["method.name=finetune", "scenario.kind=blurry"], seed=1))
    assert not setup.method.uses_memory


def test_the_former_name_er_mixed_with_a_hyphen_still_works_and_warns(tmp_path):
    import pytest

    from retain.config import config_to_dict
    from retain.errors import ConfigError, RetainDeprecationWarning
    from retain import catalog
    from retain.methods import get_method_class

    with pytest.warns(RetainDeprecationWarning, match=r"method\.name='er-mixed'.*method\.name='er_mixed'"):
        config = build_config(preset="demo", overrides=["method.name=er-mixed", "budget.protocol=fair",
                                                        "budget.reference_method=er-mixed"])
    assert (config.method_name, config.budget.reference_method) == ("er_mixed", "er_mixed")
    assert config_to_dict(config)["method"]["name"] == "er_mixed"  # config.yaml and results carry today's name
    with pytest.warns(RetainDeprecationWarning):
        assert get_method_class("er-mixed") is get_method_class("er_mixed")  # the Python API
    described = {name: text for name, _, text in catalog.registered("methods")}
    assert "er-mixed" in described["er_mixed"] and "er-mixed" not in described  # `retain list methods`
    with pytest.raises(ConfigError, match="Did you mean 'er_mixed'"):
        get_method_class("er_mixd")
