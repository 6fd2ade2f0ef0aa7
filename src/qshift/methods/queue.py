"""TCR's source-like queue: the query–candidate pairs that look most like source data."""

from __future__ import annotations

from typing import Any

import torch


class SourceLikeQueue:
    """Pairs (SI, z, c, H) kept sorted by source-likeness SI, at most ``capacity`` of them.

    ``capacity=None`` takes the size of the first batch offered (method.md §2 default).
    """

    def __init__(self, capacity: int | None = None):
        self.configured_capacity = capacity
        self.clear()

    def clear(self) -> None:
        """Empty the queue (and forget a capacity that was taken from a batch)."""
        self.capacity = self.configured_capacity
        self.si = torch.empty(0)
        self.z = torch.empty(0)
        self.c = torch.empty(0)
        self.h = torch.empty(0)

    def __len__(self) -> int:
        return self.si.shape[0]

    def push(
        self, si: torch.Tensor, z: torch.Tensor, c: torch.Tensor, h: torch.Tensor, batch_size: int
    ) -> None:
        """Append pairs; once the queue holds ≥ capacity, keep the ``capacity`` lowest SI."""
        if self.capacity is None:
            self.capacity = batch_size
        if len(self) == 0:
            self.si, self.z, self.c, self.h = si.detach(), z.detach(), c.detach(), h.detach()
        else:
            self.si = torch.cat([self.si, si.detach()])
            self.z = torch.cat([self.z, z.detach()])
            self.c = torch.cat([self.c, c.detach()])
            self.h = torch.cat([self.h, h.detach()])
        if len(self) >= self.capacity:
            order = torch.sort(self.si, stable=True).indices[: self.capacity]
            self.si, self.z, self.c, self.h = self.si[order], self.z[order], self.c[order], self.h[order]

    def gap(self) -> torch.Tensor:
        """Δ_S: distance between the centroids of the queued queries and candidates."""
        z = torch.nn.functional.normalize(self.z, dim=-1)
        c = torch.nn.functional.normalize(self.c, dim=-1)
        return torch.linalg.vector_norm(z.mean(dim=0) - c.mean(dim=0))

    def max_entropy(self) -> torch.Tensor:
        """E_m: the largest refined-prediction entropy among queued pairs."""
        return self.h.max()

    def state(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "si": self.si, "z": self.z, "c": self.c, "h": self.h}

    def load(self, state: dict[str, Any]) -> None:
        self.capacity = state["capacity"]
        self.si, self.z, self.c, self.h = state["si"], state["z"], state["c"], state["h"]
