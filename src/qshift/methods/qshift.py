"""``qshift``: TCR's refinement with source-statistics alignment and training-free corrections.

(Design under evaluation on val.)
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from qshift.methods.align import StatsAlignment
from qshift.methods.base import Objective
from qshift.methods.post import PostSpec, apply_post
from qshift.methods.tcr import TCR, VirtualBatch


class QShift(TCR):
    """TCR + ``align_weight`` × alignment loss; recorded embeddings corrected by ``post``."""

    name = "qshift"

    def __init__(
        self,
        *args: Any,
        align_weight: float = 1.0,
        corrected_candidates: bool = False,
        post: PostSpec = "recenter,qbnorm",
        **kwargs: Any,
    ):
        super().__init__(*args, post=post, **kwargs)
        if align_weight < 0:
            raise ValueError(f"align_weight must be >= 0, got {align_weight}")
        self.align_weight = align_weight
        self.corrected_candidates = corrected_candidates
        self.alignment = StatsAlignment(self.encoder, self.stats) if align_weight > 0 else None

    def embed(self, batch: Any) -> torch.Tensor:
        if self.alignment is None:
            return super().embed(batch)
        with self.alignment.capture(batch):
            return super().embed(batch)

    def virtual_batch(self, z: torch.Tensor, candidates: torch.Tensor | None = None) -> VirtualBatch:
        if candidates is None and self.corrected_candidates and self.post:
            with torch.no_grad():
                peek = copy.deepcopy(self.post)
                corrected, rescored = apply_post(peek, z.detach(), self.gallery)
                scores = self.gallery.scores(corrected) if rescored is None else rescored
                candidates = self.gallery.rows(scores.argmax(dim=1))
        return super().virtual_batch(z, candidates)

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        loss, scores = super().objective(z, batch, step)
        if self.alignment is not None:
            loss = loss + self.align_weight * self.alignment.loss()
        return loss, scores

    def reset_state(self) -> None:
        super().reset_state()
        if getattr(self, "alignment", None) is not None:
            self.alignment.reset()
