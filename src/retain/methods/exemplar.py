"""The shared base of replay methods: a byte-budgeted memory that works with every policy and codec.

What is stored is the policy's business: a *selection* policy (random, herding, ...) rebuilds
the memory class-balanced at the end of each task; a *streaming* policy (reservoir, balanced
reservoir, GDumb's greedy sampler) inserts every stream batch after its step. How it is replayed
is `memory.replay`'s: `concat` shuffles the memory rows into the task's pool (iCaRL/LUCIR/PyCIL
style), `batch` draws an extra memory minibatch of `memory.batch_size` rows at every step (ER,
Avalanche's Replay). Unset, each policy keeps its usual mode (docs/replay.md).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from retain import budget
from retain.memory import ExemplarMemory
from retain.methods.base import MEMORY_EPOCHS, STREAM_PASS, Batch, Method, MethodParams, Phase, Prediction
from retain.scenarios import TaskSpec


def class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Normalised mean of the L2-normalised features of each class (zero rows for absent classes)."""
    features = F.normalize(features.float(), dim=1)
    labels = labels.to(features.device)
    sums = torch.zeros(num_classes, features.shape[1], device=features.device)
    sums.index_add_(0, labels, features)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).unsqueeze(1)
    return F.normalize(sums / counts, dim=1)


class ExemplarMethod(Method):
    """A method with an exemplar memory under the run's byte budget, NME class means included.

    Subclasses set `default_policy`, override `training_loss` and may charge extra bytes
    (expanded branches, statistics, a teacher) through `reserved_bytes`/`extra_ledger_items`.
    """

    uses_memory: ClassVar[bool] = True
    default_policy: ClassVar[str] = "herding"
    replay_modes: ClassVar[tuple[str, ...]] = ("concat", "batch")
    transient: ClassVar[tuple[str, ...]] = ("_selection_limit",)  # set in after_task before selection reads it
    persist: ClassVar[tuple[str, ...]] = ("memory", "class_means", "exposed", "updated_task")
    # The store is charged by its rows (images or codes at their stored size, a codec's shared
    # header, values kept with each row); its labels, dataset indices and random generator are
    # bookkeeping, which no paper's budget counts.
    charged_state: ClassVar[dict[str, tuple[str, ...]]] = {"memory": ("exemplars", "codec_header", "stored_columns")}
    free_state: ClassVar[dict[str, str]] = {
        "class_means": "NME class means: the stored exemplars' mean features, computed again from them at each "
                       "task end; iCaRL's and PyCIL's budgets count the exemplars only"}

    def __init__(self, ctx, params: MethodParams) -> None:
        super().__init__(ctx, params)
        if ctx.budget_bytes is None:
            from retain.errors import ConfigError

            raise ConfigError(
                f"method.name={self.name!r} keeps exemplars, so memory.budget must be set "
                "(bytes, e.g. 7864320; MiB, e.g. '24MiB'; or images, e.g. '2000 images')."
            )
        policy = ctx.settings.memory.policy or self.default_policy
        self.memory = ExemplarMemory(
            ctx.settings.memory, ctx.dataset.image_shape, ctx.device, ctx.budget_bytes,
            seed=ctx.settings.seed + 7919, default_policy=self.default_policy, policy_options=self.policy_options(policy),
        )
        self.class_means: torch.Tensor | None = None
        self.exposed: set[int] = set()   # classes the streams (and the memory) have shown so far
        self.updated_task = -1           # the memory is updated exactly once per task
        self._selection_limit: int | None = None

    def policy_options(self, policy: str) -> dict[str, Any]:
        """Constructor options of the memory policy named `policy` as this method runs it (LUCIR's
        herding form, MAER's insertion); none by default."""
        return {}

    # ------------------------------------------------------------------ budget
    def reserved_bytes(self) -> int:
        """Bytes of the budget the exemplars may not use: those charged besides exemplars (extra
        parameters, statistics, teacher), and under budget.exemplars=fixed everything above the
        fixed exemplar room (ctx.exemplar_bytes)."""
        return budget.reserved_bytes(self.charged_bytes(), self.ctx.budget_bytes, self.ctx.exemplar_bytes)

    def charged_bytes(self) -> int:
        """Bytes charged to the budget besides exemplars (extra parameters, statistics, teacher)."""
        return sum(self._charged_extras().values())

    def _charged_extras(self) -> dict[str, int]:
        """`extra_ledger_items`, plus the `teacher` module under memory.charge_teacher when the
        method does not charge it itself (BiC, WA; methods/charges.py)."""
        from retain.methods.charges import teacher_bytes

        items = dict(self.extra_ledger_items())
        if self.ctx.settings.memory.charge_teacher and "teacher" not in items and teacher_bytes(self):
            items["teacher"] = teacher_bytes(self)
        return items

    def extra_ledger_items(self) -> dict[str, int]:
        """Ledger items other than exemplars; subclasses add theirs."""
        return {}

    def check_setup(self) -> None:
        sample = self.ctx.dataset.train.images[: min(256, self.ctx.dataset.train.images.shape[0])]
        self.memory.check_feasible(self.ctx.plan.num_classes, reserved_bytes=self.reserved_bytes(), sample_images=sample)

    def ledger_items(self) -> dict[str, int]:
        return {**self.memory.ledger_items(), **self._charged_extras()}

    def exemplars_per_class(self) -> dict[int, int]:
        return self.memory.exemplars_per_class()

    # ------------------------------------------------------------------ training data
    @property
    def streaming(self) -> bool:
        return self.memory.policy.streaming

    @property
    def online(self) -> bool:
        """`scenario.stream: online` (RM's protocol): one pass over the stream, the memory update,
        then the epochs over the memory only."""
        return self.ctx.settings.online

    @property
    def replay(self) -> str:
        """How memory rows enter the batches: "concat" or "batch" (`memory.replay`, resolved)."""
        from retain.methods.base import replay_mode

        return replay_mode(self.ctx.settings.memory, type(self))

    def memory_batch_size(self) -> int:
        return self.ctx.settings.memory.batch_size or self.ctx.settings.train.batch_size

    def training_phases(self, task: TaskSpec) -> list[Phase]:
        stream = torch.as_tensor(task.train_indices)
        epochs = self.ctx.epochs_for(task)
        if not self.online:
            return [self.stream_phase(stream, epochs, "train")]
        return [self.stream_phase(stream, 1, STREAM_PASS), self.memory_phase(epochs)]

    def stream_phase(self, stream: torch.Tensor, epochs: int, name: str) -> Phase:
        """The task's stream with the memory: an extra memory minibatch per step (`memory.replay:
        batch`, ER style), or memory rows shuffled into the pool (`concat`, iCaRL/LUCIR style)."""
        if self.replay == "batch":
            return Phase(stream=stream, epochs=epochs, memory="batch", memory_batch_size=self.memory_batch_size(), name=name)
        return Phase(stream=stream, epochs=epochs, memory="concat", name=name)

    def memory_phase(self, epochs: int) -> Phase:
        """The online protocol's second phase: `epochs` over the updated memory, no stream rows."""
        return Phase(stream=torch.empty(0, dtype=torch.long), epochs=epochs, memory="concat",
                     batch_size=self.memory_only_batch_size(), name=MEMORY_EPOCHS)

    def memory_only_batch_size(self) -> int | None:
        return None  # train.batch_size

    def before_phase(self, task: TaskSpec, phase: Phase) -> None:
        if phase.name == MEMORY_EPOCHS:  # online: update between the stream pass and the memory epochs
            self.update_memory(task)

    def after_step(self, batch: Batch) -> None:
        if self.streaming:
            self.insert_stream_rows(batch)

    def insert_stream_rows(self, batch: Batch, extras: dict[str, torch.Tensor] | None = None) -> None:
        """Offer the batch's stream rows (non-augmented) to the streaming policy."""
        stream_raw = batch.stream_part(batch.raw)
        if stream_raw.shape[0] == 0:
            return  # a memory-only batch (online memory epochs): nothing new to offer
        if self.ctx.dataset.train.is_encoded and self.ctx.settings.resized_crop:
            # an encoded dataset's stream rows arrive RandomResizedCrop-ed: store the images' evaluation views
            stream_raw = self.ctx.train_images(batch.stream_part(batch.indices))
        self.memory.insert_stream(
            stream_raw, batch.stream_part(batch.labels), task=self.current_task.index, step=batch.step,
            reserved_bytes=self.reserved_bytes(), extras=extras,
        )

    # ------------------------------------------------------------------ memory update
    def after_task(self, task: TaskSpec) -> None:
        self.update_memory(task)  # a no-op when the online protocol already updated it
        self.compute_class_means()

    def update_memory(self, task: TaskSpec) -> None:
        """The task's memory update, exactly once per task (RM's `already_mem_update` guard):
        a selection policy rebuilds the memory; a streaming one already inserted every step."""
        if self.updated_task == task.index:
            return
        self.updated_task = task.index
        if not self.streaming:
            self.rebuild_memory(task)

    def candidates_by_class(self, task: TaskSpec) -> dict[int, torch.Tensor]:
        """uint8 training images of each new class of the task (imprinting, MRDC's Rq search)."""
        indices = torch.as_tensor(task.train_indices, device=self.ctx.dataset.train.labels.device)
        labels = self.ctx.dataset.train.labels[indices]
        return {int(c): self.ctx.dataset.train.images[indices[labels == c]] for c in task.new_classes}

    def stream_by_class(self, task: TaskSpec) -> dict[int, torch.Tensor]:
        """uint8 training images of every class in the task's stream (a blurry task also holds
        minor classes), in ascending class order: the fresh candidates of the memory update."""
        indices = torch.as_tensor(task.train_indices, device=self.ctx.dataset.train.labels.device)
        labels = self.ctx.dataset.train.labels[indices]
        return {int(c): self.ctx.dataset.train.images[indices[labels == c]] for c in torch.unique(labels).tolist()}

    def rebuild_memory(self, task: TaskSpec) -> int:
        """Select from stream ∪ memory for every class exposed so far (RM `finetune.py`'s rule for
        every exemplar method): one quota per exposed class, classes with fewer candidates keep
        all of theirs and leave the room to the others. Returns the quota m.

        On disjoint tasks the stream holds only new classes and the memory only old ones, so this
        is the usual "shrink the old classes, add the new ones" of iCaRL/PyCIL."""
        stream = self.stream_by_class(task)
        store = self.memory.store
        self.exposed.update(stream)
        self.exposed.update(int(c) for c in store.class_counts())
        exposed = sorted(self.exposed)
        stored = store.class_counts()
        counts = {c: stream.get(c, torch.empty(0)).shape[0] + stored.get(c, 0) for c in exposed}
        sample = next((images for images in stream.values() if images.shape[0]), None)
        self._selection_limit = self._quota_upper_bound(sample, counts) if sample is not None else None

        def order(label: int, images: torch.Tensor) -> torch.Tensor:
            return self.priority_order(label, images, fresh=stream[label].shape[0])

        return self.memory.rebuild_class_balanced(
            stream, exposed, task.index, order_fn=order, reserved_bytes=self.reserved_bytes(), merge_memory=True,
        )

    def normalized_features(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised penultimate features with the evaluation transform."""
        features = self.ctx.forward_eval(self.network, images)["features"]
        return F.normalize(features.float(), dim=1)

    def priority_order(self, label: int, images: torch.Tensor, fresh: int | None = None) -> torch.Tensor:
        """Priority order of one class's candidates: herding on features of what the memory
        will store (compressed images for the JPEG codec; the first `fresh` rows are new, the
        rest are decoded memory rows, already as stored), or the policy's own order."""
        policy = self.memory.policy
        if not policy.needs_features:
            return policy.order(images.shape[0], self.memory.generator)
        fresh = images.shape[0] if fresh is None else fresh
        stored = torch.cat([self.memory.round_trip(images[:fresh]), images[fresh:]]) if fresh < images.shape[0] else self.memory.round_trip(images)
        features = self.normalized_features(stored)
        limit = self._selection_limit if self._selection_limit is not None else images.shape[0]
        return policy.order(images.shape[0], self.memory.generator, features=features, limit=min(limit, images.shape[0]))

    def _quota_upper_bound(self, images: torch.Tensor, counts: dict[int, int]) -> int:
        """Where herding may stop (retain.budget.quota_upper_bound), `counts` being the candidates
        per exposed class and the smallest row measured on `images`."""
        codec = self.memory.codec
        smallest = min(codec.row_bytes(r) for r in codec.encode(images[: min(256, images.shape[0])].cpu()))
        room = self.memory.capacity_bytes(self.reserved_bytes())
        return budget.quota_upper_bound(list(counts.values()), room, smallest, codec.stores_pixels)

    def compute_class_means(self) -> None:
        """NME class means: the normalised mean of each class's exemplar features."""
        store = self.memory.store
        if len(store) == 0:
            self.class_means = None
            return
        features = self.ctx.forward_eval(self.network, store.gather(torch.arange(len(store))))["features"]
        self.class_means = class_means(features, store.labels, self.network.head.num_classes)

    # ------------------------------------------------------------------ evaluation
    def nme_scores(self, features: torch.Tensor) -> torch.Tensor:
        """Negative distance to each class mean (higher is closer)."""
        return -torch.cdist(F.normalize(features.float(), dim=1), self.class_means)

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> Prediction:
        out = self.network(images)
        prediction = Prediction(logits=out["logits"], features=out.get("features"))
        if self.class_means is not None and prediction.features is not None:
            prediction.scores["nme"] = self.nme_scores(prediction.features)
        return prediction

