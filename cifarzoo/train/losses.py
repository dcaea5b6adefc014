"""Training loss: cross-entropy on hard or soft (mixed) targets with label smoothing, plus the
knowledge-distillation term of Hinton et al. 2015 when a teacher is given."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarzoo.data.mix import soft_cross_entropy


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher_T || student_T) * T^2: the T^2 keeps the gradient scale independent of T."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)


class TrainLoss(nn.Module):
    def __init__(self, label_smoothing: float = 0.0, teacher: nn.Module | None = None, kd_alpha: float = 0.5,
                 kd_temperature: float = 4.0):
        super().__init__()
        self.label_smoothing = label_smoothing
        self.teacher, self.kd_alpha, self.kd_temperature = teacher, kd_alpha, kd_temperature

    def forward(self, logits: torch.Tensor, target: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # the loss in fp32 also under autocast
        loss = soft_cross_entropy(logits, target, label_smoothing=self.label_smoothing)
        if self.teacher is None:
            return loss
        with torch.no_grad():
            teacher_logits = self.teacher(images).float()
        return (1 - self.kd_alpha) * loss + self.kd_alpha * kd_loss(logits, teacher_logits, self.kd_temperature)


def load_teacher(name: str, num_classes: int, device: torch.device, channels_last: bool) -> nn.Module:
    """A pretrained zoo model (``arch`` or ``arch.tag``), frozen in eval mode."""
    from cifarzoo.registry import create_model
    teacher = create_model(name, pretrained=True, num_classes=num_classes)
    teacher = teacher.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
