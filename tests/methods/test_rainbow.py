"""Rainbow Memory: online protocol, half/half batches, uncertainty, shared CutMix loss (spec §10.3)."""

import pytest
import torch
import torch.nn.functional as F

from retain.augment import AugmentConfig, Augmenter, rm_perturbations, rm_randaugment_perturbations
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.memory.policies.rainbow import perturbed_predictions, variation_ratio
from retain.methods.base import Batch, Prediction, classification_loss
from retain.methods.finetune import Finetune

BLURRY_ONLINE = [
    "method.name=rainbow", "scenario.kind=blurry", "scenario.stream=online", "memory.budget=200 images",
    "train.batch_size=16", "train.epochs=2",
]


def _setup(extra=()):
    return build_setup(build_config(preset="demo", overrides=[*BLURRY_ONLINE, *extra], seed=1))


def test_online_phases_half_half_batches_and_memory_only_half_batch():
    setup = _setup()
    method, plan = setup.method, setup.plan
    method.before_task(plan.tasks[0])
    stream, memory = method.training_phases(plan.tasks[0])
    assert stream.epochs == 1 and stream.batch_size == 16 and stream.memory == "none"  # empty memory: full batches
    assert memory.stream.numel() == 0 and memory.memory == "concat" and memory.batch_size == 8
    assert memory.epochs == 2
    method.memory.store.add(torch.zeros(3, *setup.dataset.image_shape, dtype=torch.uint8), torch.tensor([0, 1, 2]), task=0)
    stream, _ = method.training_phases(plan.tasks[1])
    assert (stream.batch_size, stream.memory, stream.memory_batch_size) == (8, "batch", 8)


def test_memory_updated_once_per_task_and_head_reset_over_all_classes(monkeypatch):
    setup = _setup()
    method, plan = setup.method, setup.plan
    calls = []
    original = method._select
    monkeypatch.setattr(method, "_select", lambda task: (calls.append(task.index), original(task)))
    from retain.engine.trainer import train_task

    for task in plan.tasks[:2]:
        method.before_task(task)
        assert method.network.head.num_classes == plan.num_classes  # blurry: every class exposed
        train_task(method, task, setup.ctx)
        assert calls[-1] == task.index  # updated between the stream pass and the memory epochs
        method.after_task(task)  # the second update of RM's online mode is skipped
    assert calls == [0, 1]
    assert len(method.memory.store) == 200  # min(K, candidates)


def test_uncertainty_is_zero_for_a_constant_model_and_counts_votes():
    images = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    constant = perturbed_predictions(lambda x: torch.tensor([[0.0, 1.0]]).repeat(x.shape[0], 1), images, [lambda x, g: x] * 12, g)
    assert constant.shape == (12, 5) and variation_ratio(constant).eq(0).all()
    # A model that reads the perturbation: 6 perturbations invert the image, 6 keep it.
    perturbs = [lambda x, g: x] * 6 + [lambda x, g: 255 - x] * 6
    by_pixel = perturbed_predictions(lambda x: F.one_hot((x[:, 0, 0, 0] > 127).long(), 2).float(), images, perturbs, g)
    assert torch.allclose(variation_ratio(by_pixel), torch.full((5,), 0.5))


class _Voter(torch.nn.Module):
    """A model certain on some samples and not on others: under the k-th perturbation, sample i
    answers votes[i][k] (rows counted in arrival order, perturbation after perturbation)."""

    def __init__(self, votes: list[list[int]]):
        super().__init__()
        self.votes = torch.tensor(votes)  # (N, 12)
        self.rows = 0
        self.calls: list[tuple[bool, torch.Tensor]] = []  # (training mode, input) per forward

    def forward(self, x):
        self.calls.append((self.training, x.detach().clone()))
        position = torch.arange(self.rows, self.rows + x.shape[0])
        self.rows += x.shape[0]
        n = self.votes.shape[0]
        return {"logits": F.one_hot(self.votes[position % n, position // n], 12).float()}


# Votes per sample over the 12 perturbations; u = 1 − (largest vote count)/12. The spreads are
# chosen so that the number of distinct answers or the vote entropy would rank them otherwise.
VOTES = [
    [0] * 12,                                   # certain: u = 0
    [0, 1] * 6,                                 # 6/6: u = 1/2
    [0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 0],       # 9/1/1/1: u = 1/4 (4 answers, entropy 0.84)
    list(range(12)),                            # all differ: u = 11/12
    [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0],       # 8/4: u = 1/3 (entropy 0.64)
    [0, 1, 2] * 4,                              # 4/4/4: u = 2/3
]


@pytest.mark.parametrize("kind", ["randaugment", "vr"])
def test_method_uncertainty_ranks_by_variation_ratio_in_eval_mode_over_all_twelve_perturbations(kind):
    setup = _setup([f"method.perturbations={kind}"])
    method, ctx = setup.method, setup.ctx
    method.before_task(setup.plan.tasks[0])
    model = _Voter(VOTES)
    method.network = model
    model.train()
    images = setup.dataset.train.images[: len(VOTES)]
    generator_state = ctx.augmenter.generator.get_state()
    u = method.uncertainty(images)
    torch.testing.assert_close(u, torch.tensor([0.0, 1 / 2, 1 / 4, 11 / 12, 1 / 3, 2 / 3]))
    assert torch.argsort(u).tolist() == [0, 2, 4, 1, 5, 3]  # most certain first
    assert model.training  # restored after the eval-mode predictions
    assert all(not training for training, _ in model.calls)
    # Every one of the 12 perturbations was applied, each once, in order, to the uint8 images
    # before the evaluation transform: replaying them from the same generator state gives the
    # exact inputs the model saw.
    seen = torch.cat([x for _, x in model.calls])
    assert seen.shape[0] == 12 * len(VOTES)
    replay = torch.Generator().manual_seed(0)
    replay.set_state(generator_state)
    expected = rm_perturbations() if kind == "vr" else rm_randaugment_perturbations(12)
    assert len(expected) == 12
    want = torch.cat([ctx.augmenter.eval(perturb(images, replay)) for perturb in expected])
    torch.testing.assert_close(seen, want, rtol=0, atol=0)


def test_cutmix_loss_is_mixed_in_one_shared_place():
    aug = Augmenter(AugmentConfig(cutmix=True, cutmix_p=1.0), (0.5,), (0.5,), seed=0)
    images = torch.randn(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    mix = aug.mix(images, labels)
    assert mix.applied and 0 < mix.lam < 1 and mix.images.shape == images.shape
    logits = torch.randn(6, 3)
    batch = Batch(images=mix.images, labels=labels, raw=torch.zeros(6, 1, 8, 8, dtype=torch.uint8),
                  from_memory=torch.zeros(6, dtype=torch.bool), indices=torch.arange(6), mix=mix)
    expected = mix.lam * F.cross_entropy(logits, mix.labels_a) + (1 - mix.lam) * F.cross_entropy(logits, mix.labels_b)
    assert torch.allclose(classification_loss(logits, batch), expected)
    assert Augmenter(AugmentConfig(), (0.5,), (0.5,)).mix(images, labels) is None
    assert "CutMix(p=1" in aug.describe()


def test_rainbow_learns_on_blurry_online_digits(tmp_path):
    result = run(build_config(preset="demo", overrides=[*BLURRY_ONLINE, "train.epochs=1", "augment.cutmix=true", "eval.every_epoch=true",
                                                        "eval.joint_accuracy=97"], seed=1), out=tmp_path / "rm")
    metrics = result["metrics"]
    assert metrics["last_accuracy"] > 40  # 10 classes: chance is 10%
    assert len(result["stage_accuracy_best_epoch"]) == len(result["stage_accuracy"])
    assert all(entry["exemplars"] <= 200 for entry in result["ledger"])


def test_best_epoch_accuracy_and_intransigence_against_hand_computed_values(tmp_path, monkeypatch):
    # RM's reporting extras on a model whose accuracy is scripted: after each epoch and after the
    # task, it answers the first `hits` test images right and the others wrong, so every
    # accuracy is hits / N. The best is the final evaluation in task 1 and a middle epoch in
    # task 2, so only the max over every evaluation of the task (epochs and final) passes.
    overrides = ["method.name=finetune", "scenario.num_tasks=2", "train.epochs=3", "eval.every_epoch=true",
                 "eval.joint_accuracy=97", "eval.batch_size=100000", "logging.report=false"]
    config = build_config(preset="demo", overrides=overrides, seed=0)
    setup = build_setup(config)
    labels = [setup.dataset.test.labels[torch.as_tensor(t.test_indices)] for t in setup.plan.tasks]
    assert [len(x) for x in labels] == [89, 179]
    hits = [[30, 70, 50, 80], [100, 150, 120, 90]]  # per task: epochs 1, 2, 3, then the final evaluation
    calls = {0: 0, 1: 0}

    def scripted_predict(self, images):
        task = self.current_task.index
        truth = labels[task]
        assert images.shape[0] == truth.numel()  # one evaluation pass = one call (eval.batch_size)
        right = torch.arange(truth.numel()) < hits[task][calls[task]]
        calls[task] += 1
        answer = torch.where(right, truth, (truth + 1) % len(self.current_task.seen_classes))
        return Prediction(logits=F.one_hot(answer, len(self.current_task.seen_classes)).float())

    monkeypatch.setattr(Finetune, "predict", scripted_predict)
    result = run(config, out=tmp_path / "scripted")
    assert calls == {0: 4, 1: 4}
    metrics = result["metrics"]
    assert result["stage_accuracy"] == pytest.approx([100 * 80 / 89, 100 * 90 / 179])
    assert result["stage_accuracy_best_epoch"] == pytest.approx([100 * 80 / 89, 100 * 150 / 179])
    assert metrics["last_accuracy"] == pytest.approx(50.27933)  # 90 / 179
    assert metrics["last_accuracy_best_epoch"] == pytest.approx(83.79888)  # 150 / 179
    assert metrics["intransigence"] == pytest.approx(46.72067)  # I_last = joint − A_last = 97 − 50.27933
