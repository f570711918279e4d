"""Shared knowledge-distillation pieces: frozen teachers and distillation losses."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def frozen_copy(network: nn.Module) -> nn.Module:
    """A deep copy of `network` in eval mode with gradients off: the teacher of the next task."""
    teacher = copy.deepcopy(network)
    teacher.eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


@torch.inference_mode()
def teacher_outputs(teacher: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The teacher's outputs for a batch; no graph is built."""
    return teacher(images)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft cross-entropy between temperature-scaled distributions, averaged over the batch.

    KD(p, q) = −Σ softmax(q/T) · log softmax(p/T), the PyCIL form used by iCaRL, WA and BiC.
    """
    targets = F.softmax(teacher_logits.float() / temperature, dim=1)
    log_probs = F.log_softmax(student_logits.float() / temperature, dim=1)
    return -(targets * log_probs).sum(dim=1).mean()


def sigmoid_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the student's sigmoids against the teacher's (original iCaRL)."""
    return F.binary_cross_entropy_with_logits(student_logits.float(), torch.sigmoid(teacher_logits.float()))
