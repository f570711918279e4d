"""EWC as Rainbow Memory ran it (Kirkpatrick et al. 2017; RM `methods/regularization.py`).

At the end of every training call (see RegularizedReplay) the diagonal Fisher is estimated from
squared gradients of the call's loss at the *predicted* labels, CE(f(x), argmax f(x)) plus the
current penalty λ·Σ F(θ − θ*)² (RM adds `regularization_loss()` there too), on minibatches of the
call's rows, each weighted by batch size / rows, restarted from zero every time; the penalty
excludes the classifier head. RM's single-slot ("online") mode belongs to the online stream: each
consolidation replaces slot 1 with the new importance, anchored at the current weights; offline
streams add a slot per task. The memory is a reservoir replayed under RM's stream protocol.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from retain.methods.base import register_method
from retain.methods.regularization import RegularizedReplay, Tensors


@register_method("ewc")
class EWC(RegularizedReplay):
    """Reservoir replay + λ·Σ F (θ − θ*)² with the predicted-label Fisher."""

    def importance(self, rows: torch.Tensor) -> Tensors:
        return self.predicted_label_fisher(rows)

    def predicted_label_fisher(self, images: torch.Tensor) -> Tensors:
        params = self.params_to_regularize
        fisher = {n: torch.zeros_like(p) for n, p in params.items()}
        total = images.shape[0]
        was_training = self.network.training
        self.network.eval()
        try:
            for part in images.split(self.ctx.settings.train.batch_size):
                logits = self.network(self.ctx.augmenter.eval(part))["logits"]
                loss = F.cross_entropy(logits, logits.argmax(dim=1).detach())
                if self.penalty.slots:  # RM's Fisher loss includes the penalty term
                    loss = loss + self.params.reg_coef * self.penalty(params)
                grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
                for (n, _), g in zip(params.items(), grads):
                    if g is not None:
                        fisher[n] += g.detach().pow(2) * (part.shape[0] / total)
        finally:
            self.network.train(was_training)
        return fisher
