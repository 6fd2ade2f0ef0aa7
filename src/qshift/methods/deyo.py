"""``deyo``: destroy-your-object entropy minimisation (Lee et al., ICLR 2024), retrieval version.

Per step (method.md §3): keep the ⌊0.5·B⌋ lowest-entropy queries (k = ⌊0.5·B⌋, threshold = the
(k+1)-th smallest entropy, kept when strictly below it). For image batches (a (B, C, H, W)
tensor) a 4×4 patch-shuffled copy of the kept queries gives p′ and
PLPD_b = p_b[ŷ_b] − p′_b[ŷ_b]; queries with PLPD > 0 stay. Other batches (texts) get no
augmentation: PLPD = 0 and threshold −1, so the filter keeps all. Weight
1/(exp(H − thr2) + 0.1) + (exp(PLPD) + 0.1), with thr2 the ⌊0.4·|kept|⌋-th smallest kept
entropy (the smallest when that count is 0); L = mean(weight · H). Empty selections skip the
update.
"""

from __future__ import annotations

from typing import Any

import torch

from qshift.methods.base import Adapter, Objective
from qshift.methods.losses import count


def shuffle_patches(images: torch.Tensor, grid: int, generator: torch.Generator) -> torch.Tensor:
    """Split each image into grid×grid patches and permute them (one permutation per image).

    When H or W is not divisible by ``grid``, the right/bottom remainder stays in place.
    """
    batch, channels, height, width = images.shape
    ph, pw = height // grid, width // grid
    if ph == 0 or pw == 0:
        return images.clone()
    body = images[:, :, : ph * grid, : pw * grid]
    patches = body.reshape(batch, channels, grid, ph, grid, pw).permute(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(batch, grid * grid, channels, ph, pw)
    order = torch.stack([torch.randperm(grid * grid, generator=generator) for _ in range(batch)])
    shuffled = patches[torch.arange(batch)[:, None], order.to(images.device)]
    shuffled = shuffled.reshape(batch, grid, grid, channels, ph, pw).permute(0, 3, 1, 4, 2, 5)
    out = images.clone()
    out[:, :, : ph * grid, : pw * grid] = shuffled.reshape(batch, channels, ph * grid, pw * grid)
    return out


class Deyo(Adapter):
    """Entropy minimisation weighted by confidence and pseudo-label probability difference."""

    name = "deyo"

    def __init__(
        self,
        *args: Any,
        keep_ratio: float = 0.5,
        margin_ratio: float = 0.4,
        grid: int = 4,
        plpd_threshold: float = 0.0,
        seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.keep_ratio = keep_ratio
        self.margin_ratio = margin_ratio
        self.grid = grid
        self.plpd_threshold = plpd_threshold
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        scores, logits, ent = self.gallery_entropy(z)
        k = count(self.keep_ratio, len(ent))
        if k == 0:
            return None, scores.detach()
        threshold = ent.detach().sort().values[k]
        keep = torch.nonzero(ent.detach() < threshold).flatten()
        if len(keep) == 0:
            return None, scores.detach()
        plpd, min_plpd = self._plpd(logits.detach()[keep], batch, keep)
        reliable = plpd > min_plpd
        keep, plpd = keep[reliable], plpd[reliable]
        if len(keep) == 0:
            return None, scores.detach()
        kept_ent = ent[keep]
        rank = max(count(self.margin_ratio, len(keep)), 1)
        margin = kept_ent.detach().sort().values[rank - 1]
        weight = 1 / (torch.exp(kept_ent.detach() - margin) + 0.1) + (torch.exp(plpd) + 0.1)
        return (weight * kept_ent).mean(), scores.detach()

    @torch.no_grad()
    def _plpd(self, kept_logits: torch.Tensor, batch: Any, keep: torch.Tensor) -> tuple[torch.Tensor, float]:
        """PLPD of the kept queries and the threshold it must exceed."""
        if not (isinstance(batch, torch.Tensor) and batch.dim() == 4):
            return torch.zeros(len(keep), device=kept_logits.device), -1.0
        shuffled = shuffle_patches(batch[keep.to(batch.device)], self.grid, self.generator)
        probs = kept_logits.softmax(dim=-1)
        pseudo = probs.argmax(dim=-1, keepdim=True)
        probs_shuffled = (self.gallery.scores(self.embed(shuffled)) / self.temperature).softmax(dim=-1)
        return (probs.gather(1, pseudo) - probs_shuffled.gather(1, pseudo)).flatten(), self.plpd_threshold

    def reset_state(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)

    def extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
