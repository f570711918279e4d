"""DER++: Dark Experience Replay++ (Buzzega et al., NeurIPS 2020; spec §6)."""

from __future__ import annotations


import torch
import torch.nn.functional as F
from pydantic import Field

from retain.devices import to_device
from retain.methods.base import Batch, register_method
from retain.methods.memorization_proxy import MemorizationParams
from retain.methods.streaming import StreamingReplay


class DERppParams(MemorizationParams):
    """α weighs the logit-matching MSE, β the buffer cross-entropy (MEM-CL DER++ baseline:
    α = 0.2, β = 0.5; MAER + DER++ on CIFAR-100: α = 0.1)."""

    alpha: float = Field(0.2, ge=0, description="Weight α of the MSE between current and stored logits of buffer samples.")
    beta: float = Field(0.5, ge=0, description="Weight β of the cross-entropy on buffer samples.")


def pad_logits(logits: torch.Tensor, width: int) -> torch.Tensor:
    """Logits widened to `width` columns with NaN for classes the head did not have yet,
    so one fixed-width memory column holds logits of every head size."""
    padded = torch.full((logits.shape[0], width), float("nan"), dtype=torch.float32, device=logits.device)
    padded[:, : logits.shape[1]] = logits.float()
    return padded


def masked_mse(outputs: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
    """MSE between current and stored logits over the columns the stored logits had."""
    stored = stored[:, : outputs.shape[1]]
    valid = torch.isfinite(stored)
    diff = torch.where(valid, outputs.float() - torch.nan_to_num(stored), torch.zeros_like(stored))
    return diff.pow(2).sum() / valid.sum().clamp(min=1)


@register_method("derpp")
class DERpp(StreamingReplay):
    """DER++: CE on the stream + α·MSE to the logits stored with one buffer minibatch + β·CE on
    a second, independent buffer minibatch; the buffer (reservoir) keeps logits at insertion."""

    distributed_refusal = (
        "each step draws a second buffer minibatch of the size of the rank's memory rows and stores the "
        "logits of the rank's stream rows, so the ranks' buffers and generators would drift apart."
    )

    supports_cutmix = False  # label-dependent terms (see Method.supports_cutmix)

    Params = DERppParams
    maer_insertion = "reservoir"  # maer_derpp.py: a plain reservoir

    persist = ("buffer_generator",)
    free_state = {"buffer_generator": "the state of the random generator of the buffer minibatches, not data"}
    transient = ("_stream_logits",)  # this step's logits, set in training_loss, stored in after_step

    def __init__(self, ctx, params: DERppParams) -> None:
        super().__init__(ctx, params)
        self.buffer_generator = torch.Generator().manual_seed(ctx.settings.seed + 104729)
        self._stream_logits: torch.Tensor | None = None

    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.network(batch.stream_part(batch.images))["logits"]
        self.track(batch, logits)
        self._stream_logits = logits.detach()
        # The online protocol's memory epochs bring no stream rows: only the replay terms remain.
        loss = F.cross_entropy(logits, batch.stream_part(batch.labels)) if logits.shape[0] else logits.sum()
        terms: dict[str, torch.Tensor] = {}
        if "logits" in batch.extras and batch.extras["logits"].shape[0]:
            replay = self.network(batch.memory_part(batch.images))["logits"]
            terms["mse"] = masked_mse(replay, batch.extras["logits"])
            loss = loss + self.params.alpha * terms["mse"]
            images, labels = self._second_minibatch(int(batch.extras["logits"].shape[0]))
            terms["buffer_ce"] = F.cross_entropy(self.network(images)["logits"], labels)
            loss = loss + self.params.beta * terms["buffer_ce"]
        return loss, terms

    def _second_minibatch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """An independent uniform draw without replacement from the buffer, train-augmented."""
        store = self.memory.store
        slots = torch.randperm(len(store), generator=self.buffer_generator)[:size]
        images = self.ctx.augmenter.train(store.gather(slots))
        if self.ctx.settings.channels_last and images.shape[1] > 1:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, store.labels[to_device(slots, store.labels.device)].to(self.ctx.device)

    def after_step(self, batch: Batch) -> None:
        # The logits stored are the pre-step outputs on the stream rows (as the reference).
        extras = {"logits": pad_logits(self._stream_logits, self.ctx.plan.num_classes)}
        self.insert_stream_rows(batch, extras=extras)

    def stored_extras(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rows written by MAER at task end get the current model's logits (evaluation transform)."""
        logits = self.ctx.forward_eval(self.network, images)["logits"]
        return {"logits": pad_logits(logits, self.ctx.plan.num_classes)}

