"""``qshift``: TCR's refinement plus source-statistics alignment, with training-free corrections.

Each part answers one measured weakness of TCR on shifted queries (docs/headroom.md):

- TCR's losses read the gallery through the query's nearest neighbours, which are wrong for
  most shifted queries; the alignment term of :mod:`qshift.methods.align` (ActMAD-style,
  ``align_weight``) never reads the gallery and pulls every normalisation layer's statistics
  back to the clean ones stored with the model (``stats=``, a few KB; without them the first
  batch is the reference).
- A shift moves the whole cloud of query embeddings; re-centering it on the clean query mean
  (``recenter``) and normalising the hubs it then lands on (QB-Norm with β = 10) correct what
  the update leaves, at the cost of one embedding (``post``).

Every choice (the parts, lr 3e-3 on ``scenes``, temperature 0.02, align_weight 1, β 10) was
made on the ``scenes`` val split: ``research/headroom/design.sh``. The paper's ``tcr`` stays as
it is; this is a method of its own.
"""

from __future__ import annotations

from typing import Any

import torch

from qshift.methods.align import StatsAlignment
from qshift.methods.base import Objective
from qshift.methods.post import PostSpec
from qshift.methods.tcr import TCR

#: the training-free corrections chosen on val: re-centering, then QB-Norm at β = 10
DEFAULT_POST: PostSpec = ("recenter", ("qbnorm", {"beta": 10.0}))


class QShift(TCR):
    """TCR + ``align_weight`` × alignment loss; recorded embeddings corrected by ``post``."""

    name = "qshift"

    def __init__(self, *args: Any, align_weight: float = 1.0, post: PostSpec = DEFAULT_POST, **kwargs: Any):
        super().__init__(*args, post=list(post) if post is DEFAULT_POST else post, **kwargs)
        if align_weight < 0:
            raise ValueError(f"align_weight must be >= 0, got {align_weight}")
        self.align_weight = align_weight
        self.alignment = StatsAlignment(self.encoder, self.stats) if align_weight > 0 else None

    def embed(self, batch: Any) -> torch.Tensor:
        if self.alignment is None:
            return super().embed(batch)
        with self.alignment.capture(self.local_share(batch)):
            return super().embed(batch)

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        loss, scores = super().objective(z, batch, step)
        if self.alignment is not None:
            loss = loss + self.align_weight * self.alignment.loss()
        return loss, scores

    def reset_state(self) -> None:
        super().reset_state()
        if getattr(self, "alignment", None) is not None:
            self.alignment.reset()

    def extra_state(self) -> dict[str, Any]:
        alignment = self.alignment.state() if self.alignment is not None else None
        return {**super().extra_state(), "alignment": alignment}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        if self.alignment is not None:
            self.alignment.load(state["alignment"])
