"""EWC as Rainbow Memory ran it (Kirkpatrick et al. 2017; RM `methods/regularization.py`).

After each task the diagonal Fisher is estimated from squared gradients of the cross-entropy
against the model's *predicted* labels, on minibatches of the task's training rows (stream ∪
memory), each weighted by batch size / rows; the penalty excludes the classifier head. Online
EWC (RM in online streams) keeps one running slot: F ← F_old + F_new, anchored at the latest
weights. The memory is a reservoir replayed under RM's stream protocol.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from retain.methods.base import register_method
from retain.methods.regularization import RegularizedReplay, Tensors
from retain.scenarios import TaskSpec


@register_method("ewc")
class EWC(RegularizedReplay):
    """Reservoir replay + λ·Σ F (θ − θ*)² with the predicted-label Fisher."""

    def importance(self, task: TaskSpec) -> Tensors:
        fisher = self.predicted_label_fisher(self.fisher_rows(task))
        previous = self.penalty.latest_importance()
        if self.penalty.online and previous is not None:
            fisher = {n: previous[n] + f for n, f in fisher.items()}
        return fisher

    def fisher_rows(self, task: TaskSpec) -> torch.Tensor:
        """uint8 rows the Fisher is estimated on: the task's stream and the memory."""
        store = self.memory.store
        stream = self.ctx.train_images(torch.as_tensor(task.train_indices))
        return torch.cat([stream, store.gather(torch.arange(len(store))).to(stream.device)])

    def predicted_label_fisher(self, images: torch.Tensor) -> Tensors:
        params = self.params_to_regularize
        fisher = {n: torch.zeros_like(p) for n, p in params.items()}
        total = images.shape[0]
        was_training = self.network.training
        self.network.eval()
        try:
            for part in images.split(self.ctx.config.train.batch_size):
                logits = self.network(self.ctx.augmenter.eval(part))["logits"]
                loss = F.cross_entropy(logits, logits.argmax(dim=1).detach())
                grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
                for (n, _), g in zip(params.items(), grads):
                    if g is not None:
                        fisher[n] += g.detach().pow(2) * (part.shape[0] / total)
        finally:
            self.network.train(was_training)
        return fisher
