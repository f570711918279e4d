"""Real data (Fashion-MNIST from the Debian package): finetune forgets, joint does not."""

from retain.runs.config import build_config
from retain.runs.loop import run


def test_finetune_forgets_and_joint_is_far_above(tmp_path):
    fine = run(build_config(preset="fmnist-b0-inc2", overrides=["train.epochs=1"]), out=tmp_path / "fine")
    joint = run(build_config(preset="fmnist-b0-inc2", overrides=["train.epochs=1", "method.name=joint"]), out=tmp_path / "joint")
    # After 5 tasks of 2 classes, finetune predicts mostly the last task: its last accuracy is
    # close to the last task's share of the test set (20%), and old tasks are almost forgotten.
    assert 15 < fine["metrics"]["last_accuracy"] < 30
    assert fine["metrics"]["forgetting"] > 60
    assert joint["metrics"]["last_accuracy"] > 75
