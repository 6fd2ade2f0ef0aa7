"""``tcr-gd``: TCR with gradient decoupling against forgetting (qshift's own).

The 2025 follow-up of TCR (REST, arXiv 2511.14416) reports that on long, mixed streams the
adaptation gradient often points against the gradient that would keep the model's general
knowledge (angles above 90°), and decouples the two; its equations are not public. This is
qshift's own version:

- g_a: the gradient of TCR's loss (method.md §2) on the current batch.
- g_k: the gradient of a *general-knowledge* loss, the consistency of the current query
  embeddings with the frozen source model's embeddings of the same queries,
  L_k = mean_b (1 − z_b · s_b). Why this choice: it needs no labels or source data, it is
  exactly what adaptation erodes (the source model's placement of a query relative to the
  gallery), it costs one no-grad forward per batch, and it is zero with zero gradient at the
  source weights, so it only speaks once the model has drifted.
- When cos(g_a, g_k) < 0, the component of g_a along g_k is removed (PCGrad-style
  projection), over the flattened vector (``projection="global"``) or tensor by tensor
  (``"per_tensor"``); ``"none"`` only measures.

Every step with a non-zero g_k logs the angle between g_a and g_k (degrees), so each run
reports the REST-style statistics: share of steps above 90° and the mean angle.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from qshift import collective
from qshift.methods.base import Objective
from qshift.methods.tcr import TCR

PROJECTIONS = ("global", "per_tensor", "none")


def _flat(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def _project(g_a: torch.Tensor, g_k: torch.Tensor) -> torch.Tensor:
    """g_a without its component along g_k when they conflict (cos < 0)."""
    dot = torch.dot(g_a.reshape(-1), g_k.reshape(-1))
    norm_sq = torch.dot(g_k.reshape(-1), g_k.reshape(-1))
    if dot >= 0 or norm_sq <= 0:
        return g_a
    return g_a - (dot / norm_sq) * g_k


class TCRGradientDecoupling(TCR):
    """TCR whose update drops the part that conflicts with keeping source knowledge."""

    name = "tcr-gd"

    def __init__(self, *args: Any, projection: str = "global", **kwargs: Any):
        super().__init__(*args, **kwargs)
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")
        self.projection = projection
        #: angle (degrees) between g_a and g_k at every step where g_k is non-zero; a log of
        #: the whole run, kept across reset()
        self.angles: list[float] = []

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        if step == 0:
            self._source_z = self.source_embed(batch)
        self._z = z
        return super().objective(z, batch, step)

    def _gradients(self, loss: torch.Tensor, retain: bool) -> list[torch.Tensor]:
        """d loss / d params, summed over ranks under torchrun."""
        grads = torch.autograd.grad(loss, self.params, retain_graph=retain, allow_unused=True)
        for param, grad in zip(self.params, grads, strict=True):
            param.grad = torch.zeros_like(param) if grad is None else grad
        collective.all_reduce_grads(self.params)
        return [param.grad.detach().clone() for param in self.params]

    def update(self, loss: torch.Tensor | None) -> None:
        if loss is None:
            return
        knowledge = (1 - (self._z * self._source_z).sum(dim=-1)).mean()
        g_a = self._gradients(loss, retain=True)
        if knowledge.requires_grad:
            g_k = self._gradients(knowledge, retain=False)
        else:
            g_k = [torch.zeros_like(g) for g in g_a]
        flat_a, flat_k = _flat(g_a), _flat(g_k)
        norms = float(flat_a.norm() * flat_k.norm())
        if norms > 0:
            cos = float(torch.dot(flat_a, flat_k)) / norms
            self.angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
            if self.projection == "global":
                flat = _project(flat_a, flat_k)
                g_a = list(torch.split(flat, [g.numel() for g in g_a]))
                g_a = [g.view_as(p) for g, p in zip(g_a, self.params, strict=True)]
            elif self.projection == "per_tensor":
                g_a = [_project(a, k) for a, k in zip(g_a, g_k, strict=True)]
        for param, grad in zip(self.params, g_a, strict=True):
            param.grad = grad
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def angle_stats(self) -> dict[str, float]:
        """Share of measured steps with an angle above 90° (percent) and the mean angle."""
        if not self.angles:
            return {"steps_measured": 0, "share_over_90": float("nan"), "mean_angle": float("nan")}
        over = sum(a > 90 for a in self.angles) / len(self.angles)
        return {
            "steps_measured": len(self.angles),
            "share_over_90": 100 * over,
            "mean_angle": sum(self.angles) / len(self.angles),
        }

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "angles": list(self.angles)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.angles = list(state["angles"])
