"""``eata``: EATA as the TCR paper ran it, without the Fisher term (Niu et al., ICML 2022).

Keep the ⌊0.4·B⌋ lowest-entropy queries; then, once a moving-average probability vector m
exists, keep only those whose softmax has |cos(m, p_b)| < 0.05 (redundancy filter); update
m ← 0.9·m + 0.1·mean(p_kept) (the first update sets m); weight each kept entropy by
1 / exp(H_b − 0.4). As in EATA's code, m is updated at every optimisation step. An empty
selection skips the update for that step (method.md §2 guard).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from qshift.methods.base import Adapter, Objective
from qshift.methods.losses import lowest


class Eata(Adapter):
    """Entropy minimisation on reliable, non-redundant queries."""

    name = "eata"

    def __init__(
        self,
        *args: Any,
        keep_ratio: float = 0.4,
        entropy_margin: float = 0.4,
        redundancy_margin: float = 0.05,
        momentum: float = 0.9,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.keep_ratio = keep_ratio
        self.entropy_margin = entropy_margin
        self.redundancy_margin = redundancy_margin
        self.momentum = momentum
        self.moving_prob: torch.Tensor | None = None

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        scores, logits, ent = self.gallery_entropy(z)
        keep = lowest(ent, self.keep_ratio)
        if len(keep) == 0:
            return None, scores.detach()
        probs = logits[keep].detach().softmax(dim=-1)
        if self.moving_prob is not None:
            similar = F.cosine_similarity(self.moving_prob[None], probs, dim=1).abs()
            novel = similar < self.redundancy_margin
            keep, probs = keep[novel], probs[novel]
        if len(keep) == 0:
            return None, scores.detach()
        batch_prob = probs.mean(dim=0)
        if self.moving_prob is None:
            self.moving_prob = batch_prob
        else:
            self.moving_prob = self.momentum * self.moving_prob + (1 - self.momentum) * batch_prob
        weight = torch.exp(-(ent[keep].detach() - self.entropy_margin))
        return (weight * ent[keep]).mean(), scores.detach()

    def reset_state(self) -> None:
        self.moving_prob = None

    def extra_state(self) -> dict[str, Any]:
        return {"moving_prob": self.moving_prob}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.moving_prob = state["moving_prob"]
