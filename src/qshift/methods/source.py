"""``source``: no adaptation; the recorded scores are the source model's z Gᵀ."""

from __future__ import annotations

from typing import Any

import torch

from qshift.methods.base import Adapter, Objective


class Source(Adapter):
    """The frozen source model, for reference."""

    name = "source"
    trains = False
    nearest_only = True

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        return None, self.gallery.scores(z).detach()
