"""``tent``: minimise the mean entropy of the gallery softmax (Wang et al., ICLR 2021)."""

from __future__ import annotations

from typing import Any

import torch

from qshift.methods.base import Adapter, Objective


class Tent(Adapter):
    """L = mean_b entropy(z_b Gᵀ / T)."""

    name = "tent"

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        scores, _, ent = self.gallery_entropy(z)
        return ent.mean(), scores.detach()
