"""``shot``: information maximisation plus confident pseudo-labels (Liang et al., ICML 2020).

L = mean_b entropy(O_b) + Σ_j p̄_j log(p̄_j + 1e-5) + 0.1 · CE(O_b, argmax p_b) over the queries
whose max probability exceeds 0.9 (method.md §3). No confident query: the CE term is 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from qshift.methods.base import Adapter, Objective


class Shot(Adapter):
    """Entropy, diversity and pseudo-label cross-entropy over the gallery softmax."""

    name = "shot"

    def __init__(self, *args: Any, pseudo_label_weight: float = 0.1, confidence: float = 0.9, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pseudo_label_weight = pseudo_label_weight
        self.confidence = confidence

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        scores, logits, ent = self.gallery_entropy(z)
        probs = logits.softmax(dim=-1)
        mean_prob = probs.mean(dim=0)
        loss = ent.mean() + (mean_prob * torch.log(mean_prob + 1e-5)).sum()
        p_max, labels = probs.detach().max(dim=-1)
        confident = p_max > self.confidence
        if confident.any():
            loss = loss + self.pseudo_label_weight * F.cross_entropy(logits[confident], labels[confident])
        return loss, scores.detach()
