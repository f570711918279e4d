"""EWC as RM ran it: head excluded, predicted-label Fisher, reservoir replay, non-zero penalty (spec §10.6 item 5)."""

import torch

from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods.regularization import QuadraticPenalty, regularized_parameters

OVERRIDES = ["scenario.kind=blurry", "scenario.stream=online", "memory.budget=200 images", "train.epochs=2"]


def test_penalty_excludes_the_head():
    setup = build_setup(build_config(preset="demo", overrides=["method.name=ewc", *OVERRIDES], seed=1))
    names = set(regularized_parameters(setup.method.network))
    assert names and not any(n.startswith("head.") for n in names)
    assert setup.method.memory.policy.name == "reservoir"


def test_quadratic_penalty_value_and_online_slot():
    p = {"w": torch.nn.Parameter(torch.tensor([1.0, 2.0]))}
    penalty = QuadraticPenalty(online=True)
    penalty.consolidate({"w": torch.tensor([2.0, 0.5])}, {"w": torch.tensor([0.0, 0.0])})
    assert penalty(p).item() == 2.0 * 1 + 0.5 * 4
    penalty.consolidate({"w": torch.tensor([1.0, 1.0])}, {"w": torch.tensor([1.0, 1.0])})
    assert len(penalty.slots) == 1 and penalty(p).item() == 1.0


def test_fisher_uses_predicted_labels():
    setup = build_setup(build_config(preset="demo", overrides=["method.name=ewc", *OVERRIDES], seed=1))
    method = setup.method
    method.before_task(setup.plan.tasks[0])
    images = setup.dataset.train.images[:64]
    fisher = method.predicted_label_fisher(images)
    # The same Fisher by hand: squared gradients of CE against argmax labels, batch-weighted.
    net, params = method.network.eval(), method.params_to_regularize
    expected = {n: torch.zeros_like(p) for n, p in params.items()}
    for part in images.split(setup.config.train.batch_size):
        logits = net(setup.ctx.augmenter.eval(part))["logits"]
        grads = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, logits.argmax(1)), list(params.values()))
        for (n, _), g in zip(params.items(), grads):
            expected[n] += g.pow(2) * part.shape[0] / 64
    assert all(torch.allclose(fisher[n], expected[n], atol=1e-7) for n in fisher)


def test_penalty_is_non_zero_after_the_first_task(tmp_path):
    result = run(build_config(preset="demo", overrides=["method.name=ewc", *OVERRIDES], seed=1), out=tmp_path / "ewc")
    penalties = result["method_results"]["mean_penalty_per_task"]
    # Online, RM consolidates after the stream pass too, so task 1's memory epochs are penalised.
    assert all(p > 0 for p in penalties)
    assert all(s > 0 for s in result["method_results"]["importance_sum_per_task"])
    assert result["metrics"]["last_accuracy"] > 40  # learns: 10 classes, chance 10%
