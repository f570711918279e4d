"""Rainbow Memory: online protocol, half/half batches, uncertainty, shared CutMix loss (spec §10.3)."""

import torch
import torch.nn.functional as F

from retain.augment import AugmentConfig, Augmenter
from retain.experiment.config import build_config
from retain.experiment.run import build_setup, run
from retain.memory.policies.rainbow import perturbed_predictions, variation_ratio
from retain.methods.base import Batch, classification_loss

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


def test_method_uncertainty_uses_eval_mode_and_every_perturbation():
    setup = _setup()
    method = setup.method
    method.before_task(setup.plan.tasks[0])
    method.network.train()
    images = setup.dataset.train.images[:64]
    u = method.uncertainty(images)
    assert u.shape == (64,) and (u >= 0).all() and (u <= 11 / 12 + 1e-6).all()
    assert method.network.training  # restored after the eval-mode predictions


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
    assert metrics["last_accuracy_best_epoch"] >= metrics["last_accuracy"]
    assert abs(metrics["intransigence"] - (97 - metrics["last_accuracy"])) < 1e-9
    assert all(entry["exemplars"] <= 200 for entry in result["ledger"])
