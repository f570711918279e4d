"""RWalk as RM ran it, with the path score actually accumulated (spec §3.9, §10.6 item 5)."""

import pytest
import torch

from retain.engine.trainer import train_task
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run

OVERRIDES = ["method.name=rwalk", "scenario.kind=blurry", "scenario.stream=online", "memory.budget=200 images", "train.epochs=2"]


@pytest.mark.parametrize("score", ["rm", "previous_step", "chaudhry"])
def test_path_score_is_non_zero_after_one_step_for_moved_parameters(score):
    setup = build_setup(build_config(preset="demo", overrides=[*OVERRIDES, f"method.path_score={score}"], seed=1))
    method, task = setup.method, setup.plan.tasks[0]
    method.before_task(task)
    phase = method.training_phases(task)[0]
    phase.epochs = 1
    phase.stream = phase.stream[:32]  # two steps of 16
    method.training_phases = lambda t: [phase]
    before = {n: p.detach().clone() for n, p in method.params_to_regularize.items()}
    train_task(method, task, setup.ctx)
    moved = [n for n, p in method.params_to_regularize.items() if not torch.equal(p, before[n])]
    assert moved
    assert all(method.task_score[n].abs().sum() > 0 for n in moved)
    assert all(method.fisher[n].sum() > 0 for n in moved)


def test_penalty_is_non_zero_after_the_first_task(tmp_path):
    result = run(build_config(preset="demo", overrides=OVERRIDES, seed=1), out=tmp_path / "rwalk")
    penalties = result["method_results"]["mean_penalty_per_task"]
    # RWalk consolidates once per task (after the memory epochs): task 1 trains unpenalised.
    assert penalties[0] == 0.0 and all(p > 0 for p in penalties[1:])
    assert result["metrics"]["last_accuracy"] > 40



def test_rm_path_score_takes_g_old_as_the_gradient_after_zero_grad():
    # Issue 17, item 6. RM's RWalk._train calls optimizer.zero_grad() and then snapshots p.grad as
    # old_grads: zeros (once the snapshot is a copy). So a step adds g_new / (F/2 * dθ² + ε); the
    # previous step's gradient (retain's rule before) would add (g_new - g_prev) / (...).
    setup = build_setup(build_config(preset="demo", overrides=OVERRIDES, seed=1))
    method = setup.method
    name, p = next(iter(method.params_to_regularize.items()))
    method._old_params = {n: q.detach().clone() for n, q in method.params_to_regularize.items()}
    method._old_grads = {name: torch.full_like(p, 5.0)}  # a previous step's gradient: must not count
    method.fisher[name] = torch.full_like(p, 2.0)
    with torch.no_grad():
        p.add_(0.1)
    method._grads = {name: torch.full_like(p, 3.0)}
    method.after_step(None)
    expected = 3.0 / (0.5 * 2.0 * 0.1**2 + 1e-3)
    torch.testing.assert_close(method.task_score[name], torch.full_like(p, expected))
