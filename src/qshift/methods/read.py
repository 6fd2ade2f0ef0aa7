"""``read``: the READ objective as the TCR paper ran it (method.md §3).

L = mean_b(−p_max,b · log p_max,b) − entropy(softmax(Σ_b p_b)), with p = softmax(z Gᵀ / T).
"""

from __future__ import annotations

from typing import Any

import torch

from qshift.methods.base import Adapter, Objective
from qshift.methods.losses import entropy


class Read(Adapter):
    """Confidence sharpening plus a batch-level diversity term."""

    name = "read"

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        scores = self.gallery.scores(z)
        probs = (scores / self.temperature).softmax(dim=-1)
        p_max = probs.max(dim=-1).values
        sharpen = (-p_max * torch.log(p_max.clamp_min(1e-12))).mean()
        diversity = entropy(probs.sum(dim=0))
        return sharpen - diversity, scores.detach()
