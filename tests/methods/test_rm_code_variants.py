"""`method.variant: rm-code` (issue 23, item 4): RWalk, iCaRL and BiC as Rainbow Memory's code ran
them in blurry streams, beside the paper-faithful defaults; the setting is refused elsewhere."""

import pytest
import torch

from retain.engine.trainer import train_task
from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run

BLURRY = ["scenario.kind=blurry", "scenario.stream=online", "scenario.num_tasks=5", "memory.budget=100 images", "train.epochs=1"]


def _setup(method: str, variant: str, *extra: str):
    return build_setup(build_config(preset="demo", overrides=[f"method.name={method}", f"method.variant={variant}", *BLURRY, *extra], seed=1))


def _train(setup, tasks: int) -> None:
    for task in setup.plan.tasks[:tasks]:
        setup.method.before_task(task)
        train_task(setup.method, task, setup.ctx)
        setup.method.after_task(task)


def _count_consolidations(setup, tasks: int) -> int:
    calls = []
    original = setup.method.consolidate
    setup.method.consolidate = lambda rows: (calls.append(rows.shape[0]), original(rows))
    _train(setup, tasks)
    return len(calls)


def test_rwalk_rm_code_keeps_a_zero_path_score_and_consolidates_after_every_call():
    rm_code, paper = _setup("rwalk", "rm-code"), _setup("rwalk", "paper")
    # Online: two training calls per task (the stream pass, then the memory epochs).
    assert _count_consolidations(rm_code, 2) == 4
    assert _count_consolidations(paper, 2) == 2
    assert all(s.abs().sum() == 0 for s in [*rm_code.method.task_score.values(), *rm_code.method.score.values()])
    assert paper.method.score is not None and any(s.abs().sum() > 0 for s in paper.method.score.values())
    # The Fisher still moves, so the penalty is RM's Fisher-only one.
    assert all(f.sum() > 0 for f in rm_code.method.fisher.values())


def test_icarl_rm_code_optimiser_leaves_the_classifier_out_and_it_never_moves():
    setup = _setup("icarl", "rm-code")
    head = {id(p) for p in setup.method.network.head.parameters()}
    setup.method.before_task(setup.plan.tasks[0])
    trainable = setup.method.trainable_parameters()
    assert trainable and not head & {id(p) for p in trainable}
    paper = _setup("icarl", "paper")
    paper.method.before_task(paper.plan.tasks[0])
    assert {id(p) for p in paper.method.network.head.parameters()} <= {id(p) for p in paper.method.trainable_parameters()}
    setup.method.before_task(setup.plan.tasks[0])
    initial = setup.method.network.head.weight.detach().clone()
    backbone = [p.detach().clone() for p in setup.method.network.backbone.parameters()]
    _train(setup, 2)
    assert torch.equal(setup.method.network.head.weight[: initial.shape[0]], initial)
    assert any(not torch.equal(a, b) for a, b in zip(backbone, setup.method.network.backbone.parameters()))


def test_icarl_rm_code_only_distils_once_every_class_is_learned():
    # Blurry: every class is exposed in task 1, so from task 2 on every row is an old-class row and
    # RM's loss is the sigmoid distillation alone: zero when the student equals the teacher.
    setup = _setup("icarl", "rm-code")
    _train(setup, 1)
    method, task = setup.method, setup.plan.tasks[1]
    method.before_task(task)
    assert method.old_classes == method.network.head.num_classes
    from retain.engine.batch import Batch

    indices = torch.as_tensor(task.train_indices[:8])
    raw = setup.ctx.train_images(indices)
    x = raw.float() / 255  # any input: the student equals the teacher
    batch = Batch(images=x, labels=setup.ctx.train_labels(indices), raw=raw, from_memory=torch.zeros(8, dtype=torch.bool),
                  indices=indices)
    method.network.eval()
    loss = method.training_loss(batch)
    teacher = torch.sigmoid(method.teacher(x)["logits"])
    expected = torch.nn.functional.binary_cross_entropy(teacher, teacher, reduction="none").mean(0).sum()
    torch.testing.assert_close(loss, expected)


def test_bic_rm_code_corrects_only_the_last_block_at_its_task():
    setup = _setup("bic", "rm-code")
    _train(setup, 5)
    width = setup.method.network.head.num_classes
    k = len(setup.plan.tasks[4].new_classes)
    assert setup.method.bias.ranges == [(width - k, width)]
    paper = _setup("bic", "paper")
    _train(paper, 3)
    assert len(paper.method.bias.ranges) == 2


def test_bic_rm_code_gives_a_fresh_classifier_every_task():
    setup = _setup("bic", "rm-code")
    _train(setup, 1)
    trained = setup.method.network.head.weight.detach().clone()
    setup.method.before_task(setup.plan.tasks[1])
    assert not torch.equal(setup.method.network.head.weight, trained)
    assert torch.equal(setup.method.teacher.head.weight, trained)


@pytest.mark.parametrize("method", ["ewc", "gdumb", "rainbow", "wa"])
def test_a_variant_on_a_method_without_one_is_refused(method):
    with pytest.raises(ConfigError, match=rf"method.variant='rm-code' does not apply to method.name='{method}'.*bic, icarl, rwalk"):
        _setup(method, "rm-code")


@pytest.mark.parametrize(("method", "extra", "field"), [
    ("rwalk", "method.path_score=chaudhry", "path_score"),
    ("icarl", "method.loss=sigmoid", "loss"),
    ("bic", "method.bias_lr=0.1", "bias_lr"),
])
def test_rm_code_refuses_settings_it_ignores(method, extra, field):
    with pytest.raises(ConfigError, match=rf"method.variant=rm-code.*method.{field}"):
        _setup(method, "rm-code", extra)


def test_icarl_rm_code_refuses_cutmix():
    with pytest.raises(ConfigError, match="augment.cutmix"):
        _setup("icarl", "rm-code", "augment.cutmix=true")


@pytest.mark.slow  # the tests above drive the same code through train_task; this adds the whole run
@pytest.mark.parametrize("method", ["rwalk", "icarl", "bic"])
def test_rm_code_runs_end_to_end(tmp_path, method):
    result = run(build_config(preset="demo", overrides=[f"method.name={method}", "method.variant=rm-code", *BLURRY,
                                                        "logging.report=false", "logging.tensorboard=false"], seed=1),
                 out=tmp_path / method)
    # RM's iCaRL and BiC stay near their task-1 model in a blurry stream (digits, 1 epoch: BiC at
    # chance); the run completes and scores every task.
    assert result["complete"] and len(result["accuracy_matrix"]) == 5
    assert result["metrics"]["last_accuracy"] >= 10
