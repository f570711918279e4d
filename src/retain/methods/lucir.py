"""LUCIR (Hou et al., CVPR 2019; spec §1.3): cosine classifier, less-forget distillation, margin ranking.

The base learner of MRDC. One learnable scale σ multiplies the cosine logits; from the second
task on the old-class rows are frozen and only the new rows (imprinted at the start of the
task) and the backbone learn. Loss at task t > 0: CE(σ·cos) + λ_t·(1 − cos(φ, φ_old)) + the
margin ranking loss on old-class samples; λ_t = λ_base·sqrt(|C_old| / |C_new|).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from retain.engine.short_batches import batchnorm_statistics_frozen, chunks, drops_incomplete, smallest_rows
from retain.engine.optim import EagerSGD
from retain.errors import ConfigError
from retain.budget import parameter_bytes
from retain.methods.base import Batch, MethodParams, Prediction, register_method
from retain.methods.distillation import frozen_copy, teacher_outputs
from retain.methods.exemplar import ExemplarMethod, class_means
from retain.models import count_parameters
from retain.models.cosine import CosineNet
from retain.scenarios import TaskSpec


class LUCIRParams(MethodParams):
    """LUCIR's switches and weights (defaults: the CIFAR-100 run.sh of the LUCIR code).

    `herding: lucir` is LUCIR/MRDC's greedy herding (≤ 1000 steps, ≤ 500 per class), `icarl`
    the iCaRL form. `ncm` adds the NCM score (means of all training features of the seen
    classes, an evaluation-only oracle as in LUCIR's compute_accuracy). `cb_finetune` is the
    class-balanced fine-tuning of ImageNet-full (on the exemplars, after the memory update).
    """

    lambda_base: float = Field(5.0, ge=0, description="λ_base, the weight of the less-forget feature distillation.")
    adaptive_lambda: bool = Field(True, description="Scale λ by sqrt(#old classes / #new classes) at each task.")
    less_forget: bool = Field(True, description="Add the less-forget loss (cosine distance of normalised features to the old model's).")
    margin_ranking: bool = Field(True, description="Add the margin-ranking loss on old-class exemplars.")
    margin: float = Field(0.5, ge=0, description="Margin of the margin-ranking loss.")
    top_k: int = Field(2, ge=1, description="Hardest new-class scores compared per old-class sample in the margin-ranking loss.")
    mr_weight: float = Field(1.0, ge=0, description="Weight of the margin-ranking loss.")
    imprint: bool = Field(True, description="Initialise the new classes' rows from their normalised mean features (imprinted weights).")
    last_relu: bool = Field(False, description="Keep the backbone's last ReLU (LUCIR removes it).")
    herding: Literal["lucir", "icarl"] = "lucir"
    ncm: bool = True
    cb_finetune: bool = False
    cbf_epochs: int = Field(20, ge=0, description="Epochs of the class-balanced fine-tuning (cb_finetune).")
    cbf_lr: float = Field(0.01, gt=0, description="Learning rate of the class-balanced fine-tuning.")
    cbf_milestones: list[int] = Field(default_factory=lambda: [10], description="Epochs at which the fine-tuning lr is divided by 10.")
    cbf_scope: Literal["new_head", "all"] = Field("new_head", description="What the fine-tuning trains: the new classes' head rows, or all parameters.")


# ---------------------------------------------------------------------- loss terms
def adaptive_lambda(lambda_base: float, num_old: int, num_new: int) -> float:
    """λ_t = λ_base · sqrt(|C_old| / |C_new|) (LUCIR's --adapt_lamda)."""
    return lambda_base * math.sqrt(num_old / num_new)


def less_forget_loss(features: torch.Tensor, old_features: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of 1 − cos(φ(x), φ_old(x)); applied to every sample."""
    return (1.0 - F.cosine_similarity(features.float(), old_features.float(), dim=1)).mean()


def margin_ranking_loss(cosine: torch.Tensor, labels: torch.Tensor, num_old: int, margin: float, k: int) -> torch.Tensor:
    """Mean of max(0, m − (s_gt − s_k)) over old-class samples and their top-k new-class scores.

    `cosine` holds the unscaled scores (before σ). Batches without old-class samples give 0.
    """
    old = labels < num_old
    num_new = cosine.shape[1] - num_old
    if num_new < 1 or not bool(old.any()):
        return cosine.new_zeros((), dtype=torch.float32)
    scores = cosine[old].float()
    ground_truth = scores.gather(1, labels[old].unsqueeze(1))
    hardest_new = scores[:, num_old:].topk(min(k, num_new), dim=1).values
    return F.relu(margin - (ground_truth - hardest_new)).mean()


def imprinted_weights(features_by_class: list[torch.Tensor], old_weight: torch.Tensor) -> torch.Tensor:
    """New-class rows: the normalised mean of each class's normalised features, rescaled to
    the mean norm of the old rows (LUCIR's --imprint_weights)."""
    scale = old_weight.norm(dim=1).mean()
    rows = [F.normalize(F.normalize(f.float(), dim=1).mean(dim=0), dim=0) for f in features_by_class]
    return torch.stack(rows) * scale


@register_method("lucir")
class LUCIR(ExemplarMethod):
    """LUCIR with herding exemplars; reports CNN (primary), NME and NCM accuracies."""

    supports_cutmix = False  # label-dependent terms (see Method.supports_cutmix)

    Params = LUCIRParams
    persist = ("num_old", "lambda_t", "ncm_means")
    free_state = {"ncm_means": "NCM class means of every training sample's features, an evaluation statistic; "
                               "LUCIR's budget counts the exemplars only"}
    teachers = ("teacher",)
    default_policy = "herding"
    supports_full_head = False  # a cosine head of old and new blocks
    primary_score = "cnn"
    chooses_quality: ClassVar[bool] = False  # MRDC resolves memory.quality='auto'

    def __init__(self, ctx, params: LUCIRParams) -> None:
        super().__init__(ctx, params)
        self.teacher: torch.nn.Module | None = None
        self.num_old = 0
        self.lambda_t = 0.0
        self.ncm_means: torch.Tensor | None = None

    def policy_options(self, policy: str) -> dict[str, Any]:
        return {"variant": self.params.herding} if policy == "herding" else {}

    def build_network(self) -> torch.nn.Module:
        overrides = {} if self.params.last_relu else {"last_relu": False}
        try:
            return CosineNet(self.ctx.build_backbone(**overrides))
        except ConfigError as exc:
            raise ConfigError(
                f"{exc} LUCIR removes the backbone's last ReLU (method.last_relu=false); set method.last_relu=true "
                f"to keep backbone {self.ctx.settings.backbone!r} as it is."
            ) from None

    def check_setup(self) -> None:
        memory = self.ctx.settings.memory
        if memory.codec == "jpeg" and memory.quality == "auto" and not self.chooses_quality:
            raise ConfigError(
                f"memory.quality='auto' needs a method that chooses the JPEG quality; method.name={self.name!r} "
                "does not. Use method.name=mrdc (LUCIR + the Rq criterion) or set memory.quality to 1..100."
            )
        super().check_setup()

    def extra_ledger_items(self) -> dict[str, int]:
        if self.ctx.settings.memory.charge_teacher and self.teacher is not None:
            return {"teacher": parameter_bytes(count_parameters(self.teacher, exclude_head=False))}
        return {}

    # ------------------------------------------------------------------ task start
    def before_task(self, task: TaskSpec) -> None:
        if task.index > 0:
            self.teacher = frozen_copy(self.network)
            self.num_old = self.network.head.num_classes
        super().before_task(task)
        if task.index > 0:
            num_new = self.network.head.num_classes - self.num_old
            # A blurry task may bring no new class: the head keeps its rows (nothing to imprint,
            # no margin ranking against new classes) and λ_t, undefined without new classes, is λ_base.
            adaptive = self.params.adaptive_lambda and num_new > 0
            self.lambda_t = adaptive_lambda(self.params.lambda_base, self.num_old, num_new) if adaptive else self.params.lambda_base
            if self.params.imprint and num_new > 0:
                self._imprint(task)

    def _imprint(self, task: TaskSpec) -> None:
        head = self.network.head
        candidates = self.candidates_by_class(task)
        rows = head.new_weight.detach().clone()
        for i, c in enumerate(range(head.num_old, head.num_classes)):
            if c in candidates and candidates[c].shape[0] > 0:  # a class without data keeps its random row
                features = self.normalized_features(candidates[c])
                rows[i] = imprinted_weights([features], head.old_weight)[0].to(rows.dtype)
        head.imprint(rows)

    # ------------------------------------------------------------------ training
    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.network(batch.images)
        ce = F.cross_entropy(out["logits"].float(), batch.labels)
        terms = {"ce": ce.detach()}
        loss = ce
        if self.teacher is not None:
            if self.params.less_forget:
                old_features = teacher_outputs(self.teacher, batch.images)["features"]
                lf = self.lambda_t * less_forget_loss(out["features"], old_features)
                loss = loss + lf
                terms["lf"] = lf.detach()
            if self.params.margin_ranking:
                mr = self.params.mr_weight * margin_ranking_loss(
                    out["cosine"], batch.labels, self.num_old, self.params.margin, self.params.top_k
                )
                loss = loss + mr
                terms["mr"] = mr.detach()
        return loss, terms

    # ------------------------------------------------------------------ task end
    def after_task(self, task: TaskSpec) -> None:
        super().after_task(task)  # herding memory update and NME class means
        if self.params.cb_finetune and task.index > 0 and self.params.cbf_epochs > 0:
            self.class_balanced_finetune()
            self.compute_class_means()
        if self.params.ncm:
            self.compute_ncm_means(task)

    def class_balanced_finetune(self) -> None:
        """Fine-tune on the (class-balanced) exemplars: new-class rows only, or the whole network."""
        ctx, params, train = self.ctx, self.params, self.ctx.settings.train
        store = self.memory.store
        if len(store) == 0:
            return
        head = self.network.head
        scope_all = params.cbf_scope == "all"
        parameters = [p for p in self.network.parameters() if p.requires_grad] if scope_all else [head.new_weight]
        optimizer = EagerSGD(parameters, lr=params.cbf_lr, momentum=train.momentum, weight_decay=train.weight_decay)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=params.cbf_milestones, gamma=train.gamma)
        # With the feature extractor fixed its BatchNorm statistics stay fixed too.
        self.network.train(scope_all)
        labels = store.labels.to(ctx.device)
        drop, smallest = drops_incomplete(train.drop_last, self.network), smallest_rows(self.network)
        for _ in range(params.cbf_epochs):
            order = torch.randperm(len(store), generator=ctx.generator)
            for slots in chunks(order, train.batch_size, drop):
                if slots.numel() < smallest:
                    continue
                images = ctx.augmenter.train(store.gather(slots))
                with ctx.autocast(), batchnorm_statistics_frozen(self.network, slots.numel() < train.batch_size):
                    logits = self.network(images)["logits"]
                loss = F.cross_entropy(logits.float(), labels[slots.to(ctx.device)])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            scheduler.step()
        self.network.train()

    def compute_ncm_means(self, task: TaskSpec) -> None:
        """Class means of the features of all training images of the seen classes."""
        train = self.ctx.dataset.train
        seen = torch.as_tensor(task.seen_classes, device=train.labels.device)
        rows = torch.isin(train.labels, seen)
        features = self.ctx.forward_eval(self.network, self.ncm_images(train.images[rows]))["features"]
        self.ncm_means = class_means(features, train.labels[rows], self.network.head.num_classes)

    def ncm_images(self, images: torch.Tensor) -> torch.Tensor:
        """The training images the NCM means are computed on: as they are (MRDC: compressed)."""
        return images

    # ------------------------------------------------------------------ evaluation
    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> Prediction:
        prediction = super().predict(images)
        if self.ncm_means is not None and prediction.features is not None:
            prediction.scores["ncm"] = -torch.cdist(F.normalize(prediction.features.float(), dim=1), self.ncm_means)
        return prediction

    # ------------------------------------------------------------------ persistence
