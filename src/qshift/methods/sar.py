"""``sar``: sharpness-aware, reliable entropy minimisation (Niu et al., ICLR 2023).

Per step: pass 1 keeps the ⌊0.4·B⌋ lowest-entropy queries (threshold = the k-th entropy),
L1 = their mean entropy; SAM ascent w ← w + ρ·g/‖g‖ (ρ = 0.05). Pass 2 at the perturbed
weights keeps those of the kept set whose new entropy is below the threshold, L2 = their
mean entropy; the weights are restored and AdamW steps with the perturbed gradient. When the
EMA (0.9/0.1) of L2 drops below 0.2 the model is reset to the source weights. Recorded
scores: pass 1. Guards: k = 0 or an empty pass-2 selection skips the update (the released
code would leave the weights perturbed or step on NaN).
"""

from __future__ import annotations

from typing import Any

import torch

from qshift import collective
from qshift.methods.base import Adapter, Objective
from qshift.methods.losses import lowest


class Sar(Adapter):
    """Entropy minimisation with SAM around AdamW and model recovery."""

    name = "sar"

    def __init__(
        self,
        *args: Any,
        keep_ratio: float = 0.4,
        rho: float = 0.05,
        reset_threshold: float = 0.2,
        ema_momentum: float = 0.9,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.keep_ratio = keep_ratio
        self.rho = rho
        self.reset_threshold = reset_threshold
        self.ema_momentum = ema_momentum
        self.loss_ema: float | None = None
        #: how many times the model was reset to source by the EMA rule
        self.recoveries = 0

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        scores, _, ent = self.gallery_entropy(z)
        keep = lowest(ent, self.keep_ratio)
        if len(keep) == 0:
            return None, scores.detach()
        self._threshold = ent.detach()[keep].max()
        self._keep = keep
        self._batch = batch
        return ent[keep].mean(), scores.detach()

    def update(self, loss: torch.Tensor | None) -> None:
        """SAM: ascend along the first-pass gradient, descend with the perturbed gradient."""
        if loss is None:
            return
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        collective.all_reduce_grads(self.params)  # the ascent direction is the global gradient
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        grad_norm = torch.norm(torch.stack([g.norm(p=2) for g in grads]), p=2)
        scale = self.rho / (grad_norm + 1e-12)
        with torch.no_grad():
            offsets = [g * scale for g in grads]
            for param, offset in zip(self.params, offsets, strict=True):
                param.add_(offset)
        self.optimizer.zero_grad(set_to_none=True)
        ent2 = self.gallery_entropy(self.embed(self._batch))[2][self._keep]
        reliable = ent2.detach() < self._threshold
        second = ent2[reliable].mean() if reliable.any() else None
        if second is not None:
            second.backward()
            collective.all_reduce_grads(self.params)
        with torch.no_grad():
            for param, offset in zip(self.params, offsets, strict=True):
                param.sub_(offset)
        if second is None:
            self.optimizer.zero_grad(set_to_none=True)
            return
        self.optimizer.step()
        value = float(second.detach())
        m = self.ema_momentum
        self.loss_ema = value if self.loss_ema is None else m * self.loss_ema + (1 - m) * value
        if self.loss_ema < self.reset_threshold:
            self.restore_source_weights()
            self.loss_ema = None
            self.recoveries += 1

    def reset_state(self) -> None:
        self.loss_ema = None
        self.recoveries = 0

    def extra_state(self) -> dict[str, Any]:
        return {"loss_ema": self.loss_ema, "recoveries": self.recoveries}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.loss_ema = state["loss_ema"]
        self.recoveries = state["recoveries"]
