import json

import pytest

from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import run


def _demo(tmp_path, *overrides, name="run"):
    cfg = build_config(preset="demo", overrides=["train.epochs=3", "method.name=finetune", *overrides])
    return run(cfg, out=tmp_path / name)


def test_demo_run_writes_results(tmp_path):
    results = _demo(tmp_path)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert (tmp_path / "run" / "config.yaml").exists()
    assert (tmp_path / "run" / "plan.json").exists()
    matrix = saved["accuracy_matrix"]
    assert len(matrix) == 5 and all(len(row) == 5 for row in matrix)
    assert matrix[0][1] is None                       # future tasks are not measured
    assert len(saved["stage_accuracy"]) == 5
    assert saved["completed_tasks"] == 5
    # The summary metrics are those of this matrix and these stage accuracies (by hand, spec §0.3).
    stage, metrics, last = saved["stage_accuracy"], saved["metrics"], matrix[-1]
    assert metrics["last_accuracy"] == stage[-1]
    assert metrics["average_incremental_accuracy"] == pytest.approx(sum(stage) / 5)
    best_before = [max(matrix[t][j] for t in range(j, 4)) for j in range(4)]
    assert metrics["forgetting"] == pytest.approx(sum(b - a for b, a in zip(best_before, last)) / 4)
    best = [max(matrix[t][j] for t in range(j, 5)) for j in range(5)]
    assert metrics["forgetting_fm"] == pytest.approx(sum(b - a for b, a in zip(best, last)) / 5)
    assert metrics["backward_transfer"] == pytest.approx(sum(last[j] - matrix[j][j] for j in range(4)) / 4)
    assert metrics["forgetting"] > 10  # finetune forgets
    assert saved["timings"]["train_images_per_second"] > 0
    assert saved["versions"]["torch"]
    assert saved["seed"] == 0
    assert results["stage_accuracy"] == saved["stage_accuracy"]


def test_same_seed_same_matrix_and_other_seed_differs(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 5)):
        _demo(tmp_path, f"seed={seed}", name=name)
    a, b, c = (json.loads((tmp_path / n / "results.json").read_text())["accuracy_matrix"] for n in "abc")
    assert a == b
    assert a != c


def test_finetune_forgets_and_joint_remembers(tmp_path):
    fine = _demo(tmp_path, "train.epochs=10", name="fine")
    joint = _demo(tmp_path, "train.epochs=10", "method.name=joint", name="joint")
    # Finetune keeps (almost) only the last task; joint keeps them all.
    assert fine["accuracy_matrix"][-1][0] < 20
    assert fine["accuracy_matrix"][-1][-1] > 80
    assert joint["metrics"]["last_accuracy"] > fine["metrics"]["last_accuracy"] + 40


def test_refuses_to_overwrite_a_run(tmp_path):
    _demo(tmp_path, name="same")
    before = (tmp_path / "same" / "results.json").read_text()
    with pytest.raises(ConfigError, match="already holds a run"):
        _demo(tmp_path, name="same")
    assert (tmp_path / "same" / "results.json").read_text() == before


def test_dry_run_writes_nothing(tmp_path):
    cfg = build_config(preset="demo")
    out = run(cfg, out=tmp_path / "dry", dry_run=True)
    assert out["dry_run"] is True and len(out["plan"]["tasks"]) == 5
    assert not (tmp_path / "dry").exists()


@pytest.mark.parametrize("overrides, expected", [
    (["method.name=replay"], {"policy": "herding", "replay": "concat"}),  # the method's defaults
    (["method.name=replay", "memory.policy=reservoir"], {"policy": "reservoir", "replay": "batch"}),  # the policy's usual mode
    (["method.name=replay", "memory.replay=batch", "memory.batch_size=8"], {"policy": "herding", "replay": "batch"}),
])
def test_results_say_which_memory_policy_and_replay_mode_the_run_used(tmp_path, overrides, expected):
    config = build_config(preset="demo", overrides=["train.epochs=1", *overrides])
    results = run(config, out=tmp_path / "run")
    assert results["memory_in_use"] == expected
    assert json.loads((tmp_path / "run" / "results.json").read_text())["memory_in_use"] == expected


def test_the_dry_run_lists_the_classes_each_task_trains(capsys):
    """The plan table names the classes plan.json gives each task (it named the class at the remapped
    id's position twice over: task 1 of the reversed order was shown as "0, 1" while it trained 9, 8)."""
    from retain.runs.config import build_config
    from retain.runs.loop import run

    for order in ("[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]", "shuffle"):
        capsys.readouterr()
        result = run(build_config(preset="demo", overrides=[f"scenario.order={order}", "scenario.num_tasks=2"]), dry_run=True)
        plan = result["plan"]
        table = capsys.readouterr().out.splitlines()
        header = next(i for i, line in enumerate(table) if line.split() == ["task", "#train", "#test", "new", "classes"])
        rows = [line.split() for line in table[header + 1:header + 3]]
        for task, row in zip(plan["tasks"], rows):
            trained = [str(plan["class_order"][c]) for c in task["new_classes"]]
            assert " ".join(row[3:]).split(", ") == trained, (order, row, trained)
