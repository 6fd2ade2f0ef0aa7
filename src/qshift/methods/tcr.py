"""``tcr``: Test-time adaptation for Cross-modal Retrieval (Li et al., ICLR 2025), method.md §2.

Per step: candidates c_b = nearest gallery item of each query (no gradient); refined
prediction P = z Cᵀ / τ over the batch's candidates; at step 0 of the first ``queue_batches``
batches the ⌊con_ratio·B⌋ most source-like pairs (smallest
SI_b = 2‖z_b − c_b‖ − ‖z_b − z̄‖ − ‖c_b − c̄‖) enter the queue, which keeps the ``queue_size``
lowest SI. Loss = L_REM (noise-robust entropy over queries with H_b ≤ E_m, weighted by
max(0, 1 − H_b/(E_m + 1e-3))) + L_UNI (mean exp(−t‖z_b − z̄‖)) + L_EMG ((Δ_T − Δ_S)²).

Deliberate deviations from the released code: an empty {H_b ≤ E_m} contributes 0 instead of
NaN; while the queue is empty (⌊con_ratio·B⌋ = 0 on tiny batches) REM and EMG contribute 0.

``window`` (ours, default 0 = the paper): keep the last ``window`` detached query/candidate
pairs and treat them as part of every batch for the batch statistics (centroids, candidate
set of P, SI ranking) so that tiny batches, down to batch size 1, still see a batch. Losses
average over the current queries only; with a window the queue phase lasts
``queue_batches · (window + 1)`` queries.

``teacher_momentum`` (qshift's own; default 0 = the paper): an EMA teacher supplies the
refinement candidates. The teacher's weights follow the adapted ones after every optimizer
step (ema ← m·ema + (1 − m)·θ, starting from and reset to the source weights); each step's
candidates c_b are the nearest gallery items of the teacher's embeddings of the same batch
(no gradient) instead of the student's, so a few bad updates cannot immediately rewrite the
pseudo-targets. The student's scores are still the ones recorded. Methods that never step
(tcr-free) have no teacher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from qshift.methods.base import Adapter, Objective
from qshift.methods.losses import count, entropy
from qshift.methods.queue import SourceLikeQueue


@dataclass
class VirtualBatch:
    """The current queries (with gradient) plus the sliding window (detached)."""

    z: torch.Tensor  # current normalised queries (B, d)
    c: torch.Tensor  # current candidates (B, d)
    all_z: torch.Tensor  # current + window queries (B + W, d)
    all_c: torch.Tensor  # current + window candidates (B + W, d)
    scores: torch.Tensor  # (B, N) current queries against the gallery, detached


def norm(x: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the last dimension."""
    return torch.linalg.vector_norm(x, dim=-1)


class TCR(Adapter):
    """Query-prediction refinement with noise-robust entropy, uniformity and modality gap."""

    name = "tcr"
    nearest_only = True
    default_temperature = 0.02

    def __init__(
        self,
        *args: Any,
        con_ratio: float = 0.3,
        queue_batches: int = 10,
        queue_size: int | None = None,
        uniformity_t: float = 0.1,
        rem_weight: float = 1.0,
        uniformity_weight: float = 1.0,
        gap_weight: float = 1.0,
        window: int = 0,
        teacher_momentum: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if window < 0:
            raise ValueError(f"window must be >= 0, got {window}")
        if not 0 <= teacher_momentum < 1:
            raise ValueError(f"teacher_momentum must be in [0, 1), got {teacher_momentum}")
        self.con_ratio = con_ratio
        self.queue_batches = queue_batches
        self.uniformity_t = uniformity_t
        self.rem_weight = rem_weight
        self.uniformity_weight = uniformity_weight
        self.gap_weight = gap_weight
        self.window = window
        self.teacher_momentum = teacher_momentum
        self.queue = SourceLikeQueue(queue_size)
        self.reset_state()

    @property
    def has_teacher(self) -> bool:
        """True when an EMA teacher supplies the candidates (training methods only)."""
        return self.teacher_momentum > 0 and self.trains

    # -- pieces shared with tcr-free ------------------------------------------------------------
    def virtual_batch(self, z: torch.Tensor, candidates: torch.Tensor | None = None) -> VirtualBatch:
        """Candidates for ``z`` (its nearest gallery items unless given) and the window-extended batch."""
        with torch.no_grad():
            scores = self.gallery.scores(z.detach())
            c = self.gallery.rows(scores.argmax(dim=1)) if candidates is None else candidates
        if len(self._window_z) == 0:
            return VirtualBatch(z, c, z, c, scores)
        return VirtualBatch(z, c, torch.cat([z, self._window_z]), torch.cat([c, self._window_c]), scores)

    @torch.no_grad()
    def teacher_candidates(self, batch: Any) -> torch.Tensor:
        """Nearest gallery item of each query under the EMA teacher's weights (B, d).

        Searched in the whole gallery: under top-k recording the teacher's nearest item need
        not be among the student's top-k.
        """
        teacher_z = self.embed_with(self._teacher, batch)
        whole = self.whole_gallery
        nearest = whole.nearest(teacher_z) if whole.records_topk else whole.scores(teacher_z).argmax(dim=1)
        return whole.rows(nearest)

    def in_queue_phase(self) -> bool:
        if self.window == 0:
            return self.batches_seen < self.queue_batches
        return self.queries_seen < self.queue_batches * (self.window + 1)

    @torch.no_grad()
    def fill_queue(self, vb: VirtualBatch, refined_entropy: torch.Tensor) -> None:
        """Push the current pairs that rank among the ⌊con_ratio·|batch|⌋ most source-like."""
        z_mean, c_mean = vb.all_z.mean(dim=0), vb.all_c.mean(dim=0)
        si = 2 * norm(vb.all_z - vb.all_c) - norm(vb.all_z - z_mean) - norm(vb.all_c - c_mean)
        k = count(self.con_ratio, len(si))
        if k == 0:
            return
        chosen = torch.sort(si, stable=True).indices[:k]
        chosen = chosen[chosen < len(vb.z)]
        self.queue.push(si[chosen], vb.z[chosen], vb.c[chosen], refined_entropy[chosen], len(vb.all_z))

    def remember(self, z: torch.Tensor, c: torch.Tensor) -> None:
        """Slide the window over the batch just processed."""
        self.queries_seen += len(z)
        if self.window == 0:
            return
        self._window_z = torch.cat([z.detach(), self._window_z])[: self.window]
        self._window_c = torch.cat([c.detach(), self._window_c])[: self.window]

    # -- the objective ------------------------------------------------------------------------
    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        vb = self.virtual_batch(z, self.teacher_candidates(batch) if self.has_teacher else None)
        refined = z @ vb.all_c.T / self.temperature
        ent = entropy(refined)
        if step == 0 and self.in_queue_phase():
            self.fill_queue(vb, ent.detach())
        z_mean = vb.all_z.mean(dim=0)
        loss = self.uniformity_weight * torch.exp(-self.uniformity_t * norm(z - z_mean)).mean()
        if len(self.queue) > 0:
            max_ent = self.queue.max_entropy()
            reliable = ent.detach() <= max_ent
            if reliable.any():
                weight = torch.clamp(1 - ent.detach() / (max_ent + 1e-3), min=0)
                loss = loss + self.rem_weight * (weight * ent)[reliable].mean()
            gap_now = norm(vb.all_z.mean(dim=0) - vb.all_c.mean(dim=0))
            loss = loss + self.gap_weight * (gap_now - self.queue.gap()) ** 2
        if step == self.steps - 1:
            self.remember(z, vb.c)
        return loss, vb.scores

    # -- state ----------------------------------------------------------------------------------
    @torch.no_grad()
    def after_step(self) -> None:
        """Move the EMA teacher toward the weights the optimizer just wrote."""
        if not self.has_teacher:
            return
        m = self.teacher_momentum
        for ema, param in zip(self._teacher, self.params, strict=True):
            ema.mul_(m).add_(param.detach(), alpha=1 - m)

    def reset_state(self) -> None:
        self.queue.clear()
        self.queries_seen = 0
        self._window_z = torch.empty(0, self.gallery.dim, device=self.gallery.device)
        self._window_c = torch.empty(0, self.gallery.dim, device=self.gallery.device)
        #: the EMA teacher's copies of :attr:`params` (empty without a teacher)
        self._teacher = [s.clone() for s in self._source] if self.has_teacher else []

    def extra_state(self) -> dict[str, Any]:
        return {
            "queue": self.queue.state(),
            "queries_seen": self.queries_seen,
            "window_z": self._window_z,
            "window_c": self._window_c,
            "teacher": [t.clone() for t in self._teacher],
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        teacher = state.get("teacher", [])
        if len(teacher) != len(self._teacher):
            raise ValueError(
                f"state holds {len(teacher)} EMA teacher tensors, this adapter expects "
                f"{len(self._teacher)} (teacher_momentum={self.teacher_momentum})"
            )
        self.queue.load(state["queue"])
        self.queries_seen = state["queries_seen"]
        self._window_z, self._window_c = state["window_z"], state["window_c"]
        if self.has_teacher:
            pairs = zip(teacher, self._source, strict=True)
            self._teacher = [t.to(s.device, s.dtype, copy=True) for t, s in pairs]
