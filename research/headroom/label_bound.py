"""TCR and qshift with their pseudo-labels replaced by the true matches, measured on val.

The held-out oracle bounds what the adapted parameters can express with ten supervised epochs.
This bounds something narrower: what TCR's and qshift's *own* update (their loss, lr, 3 steps
per batch, one pass over the stream) reaches when every query's refinement candidate is a
relevant gallery item (the most similar one) instead of its nearest gallery item, which is right
for 7-50 % of the shifted queries. The gap between a method and its true-label twin is what its
pseudo-label errors cost; the gap between the twin and the held-out oracle is what its update
rule leaves even with perfect labels. ``online-oracle`` takes the oracle's supervised loss at the
same budget instead. Registered as ``tcr-truelabels``, ``qshift-truelabels`` and
``online-oracle`` for this script only: they read the answers and are not methods.

    PYTHONPATH=research/headroom python research/headroom/label_bound.py --shifts fog@5 \
        --stats src/qshift/scenes/assets/scenes_source.stats-i2t.safetensors \
        --spec tcr --spec "tcr-truelabels:lr=3e-3" --out runs/grid/i2t-labels.jsonl
"""

from __future__ import annotations

import argparse
from typing import Any

import grid  # research/headroom on PYTHONPATH (label_bound.sh)
import numpy as np
import torch

from qshift import registry
from qshift.bench.oracle import TEMPERATURE
from qshift.methods.base import Adapter, Objective
from qshift.methods.qshift import QShift
from qshift.methods.tcr import TCR, VirtualBatch


class TrueLabels:
    """Where the true groups of the batch being adapted on are published for the twins."""

    groups: Any = None
    gallery_groups: np.ndarray | None = None


class TrueLabelStream(list):
    """Prepared batches that publish each batch's query groups as the engine takes it."""

    def __iter__(self):
        for planned, prepared, groups in super().__iter__():
            TrueLabels.groups = groups
            yield planned, prepared, groups


def relevant_mask() -> torch.Tensor:
    """(B, N) True where a gallery item is relevant to a query of the published batch."""
    owners = torch.as_tensor(TrueLabels.gallery_groups)
    return torch.stack([torch.isin(owners, torch.as_tensor(np.atleast_1d(g))) for g in TrueLabels.groups])


def true_candidates(gallery: Any, z: torch.Tensor) -> torch.Tensor:
    """For each query the relevant gallery row that scores highest under the current weights."""
    scores = gallery.scores(z.detach())
    masked = torch.where(relevant_mask(), scores, torch.full_like(scores, -torch.inf))
    return gallery.rows(masked.argmax(dim=1))


class TrueCandidates:
    """Mixin for TCR and its kin: refinement candidates are the true matches (a bound, not a
    method)."""

    gallery: Any

    def virtual_batch(self, z: torch.Tensor, candidates: torch.Tensor | None = None) -> VirtualBatch:
        return super().virtual_batch(z, true_candidates(self.gallery, z))  # type: ignore[misc]


class TrueLabelTCR(TrueCandidates, TCR):
    name = "tcr-truelabels"


class TrueLabelQShift(TrueCandidates, QShift):
    name = "qshift-truelabels"


class OnlineOracle(Adapter):
    """The oracle's supervised loss (−log of the gallery-softmax mass on the relevant items,
    T = 0.05) at a method's budget: ``steps`` updates on each batch's true matches, one pass,
    the batch scored by the weights it adapted on. Transductive within each batch, so an
    optimistic bound on what one online pass can learn from the answers."""

    name = "online-oracle"

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        scores = self.gallery.scores(z)
        log_p = (scores / TEMPERATURE).log_softmax(dim=1).masked_fill(~relevant_mask(), -torch.inf)
        return -torch.logsumexp(log_p, dim=1).mean(), scores.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    grid.add_grid_arguments(parser)
    args = parser.parse_args()
    for cls in (TrueLabelTCR, TrueLabelQShift, OnlineOracle):
        registry.register("method", cls.name, cls, "reads the true matches (label_bound.py)", replace=True)
    make_batches = grid.shift_batches

    def published(encoder: Any, data: Any, direction: str, shift: Any, seed: int) -> list:
        TrueLabels.gallery_groups = np.asarray(data.groups["text" if direction == "i2t" else "image"])
        return TrueLabelStream(make_batches(encoder, data, direction, shift, seed))

    grid.shift_batches = published
    grid.run_grid(args)


if __name__ == "__main__":
    main()
