"""``tcr-free``: TCR's training-free variant (method.md §2).

One pass, no optimizer. The queue is filled as in TCR; with z̄, c̄ the batch centroids and
Δ_T = ‖z̄ − c̄‖: z′ = z̄ + λ(z − z̄) (λ = 2, spreading the queries), then
z″ = z′ + (1 − Δ_S/Δ_T)(c̄ − z̄) (closing the gap to the source-like Δ_S); scores are
normalize(z″) Gᵀ. While the queue is empty the source scores are recorded.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from qshift.methods.base import Objective
from qshift.methods.losses import entropy
from qshift.methods.tcr import TCR, norm


class TCRFree(TCR):
    """Refine query embeddings geometrically instead of updating weights."""

    name = "tcr-free"
    trains = False

    def __init__(self, *args: Any, spread: float = 2.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.spread = spread

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        vb = self.virtual_batch(z)
        if self.in_queue_phase():
            self.fill_queue(vb, entropy(z @ vb.all_c.T / self.temperature))
        self.remember(z, vb.c)
        if len(self.queue) == 0:
            self.refined = z
            return None, vb.scores
        z_mean, c_mean = vb.all_z.mean(dim=0), vb.all_c.mean(dim=0)
        gap_now = norm(z_mean - c_mean).clamp_min(1e-12)
        spread = z_mean + self.spread * (z - z_mean)
        moved = spread + (1 - self.queue.gap() / gap_now) * (c_mean - z_mean)
        self.refined = F.normalize(moved, dim=-1)
        return None, self.gallery.scores(self.refined)

    def adapt(self, batch: Any) -> torch.Tensor:
        scores = super().adapt(batch)
        self.last_embeddings = self.refined
        return scores
