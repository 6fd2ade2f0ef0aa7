"""``align``: source-statistics alignment of the query tower (anchored on ActMAD, Mirza et al., CVPR 2023).

It assumes clean-query statistics stored with the model
(:class:`~qshift.methods.source_stats.SourceStats`, a few KB: per-feature mean and variance of
every normalisation layer's output over clean queries, ``stats=``). A shift moves these
statistics; the method adapts the same normalisation affine parameters as every method so that
the current batch's statistics match the clean ones again:
L = Σ_layers mean_c |μ_c − μ_c^clean| + mean_c |σ²_c − σ²_c^clean|, with μ, σ² taken over the
batch and (real) tokens of each layer's output. ActMAD matches per-location statistics
(every channel at every position); qshift keeps one mean and variance per feature, which is
what a few KB can hold and what variable-length text allows. The loss never reads the gallery,
so a wrong nearest neighbour cannot mislead it.

Without stored statistics the first batch after a reset serves as the reference: the method
then only keeps a drifting stream where it started and corrects nothing of the first shift.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from qshift import collective
from qshift.methods.base import Adapter, Objective
from qshift.methods.source_stats import LayerRecorder, SourceStats

LayerStats = dict[str, tuple[torch.Tensor, torch.Tensor]]


def batch_stats(rows: dict[str, torch.Tensor], widths: dict[str, int]) -> LayerStats:
    """Per-feature mean and (biased) variance of each layer's rows over the *global* batch.

    Under torchrun every rank holds the rows of its share of the batch (none for an empty
    share): the per-rank sums (count, Σx, Σx²) are all-gathered with gradient, so every rank
    computes the same statistics and each rank's rows get their part of the gradient. In one
    process this is the plain mean and variance of the rows.
    """
    world = collective.world()
    out: LayerStats = {}
    for name, width in widths.items():
        local = rows.get(name)
        if local is None:  # this rank ran no query of the batch
            sums = torch.zeros(1, 2 * width + 1, dtype=torch.float64, requires_grad=torch.is_grad_enabled())
        else:
            x = local.double()
            count = x.new_full((1,), float(len(x)))
            sums = torch.cat([count, x.sum(dim=0), (x * x).sum(dim=0)])[None]
        total = collective.gather_rows_with_grad(sums, [1] * world.size).sum(dim=0)
        count = total[0].clamp_min(1.0)
        mean = total[1 : width + 1] / count
        var = (total[width + 1 :] / count - mean * mean).clamp_min(0.0)
        out[name] = (mean.float(), var.float())
    return out


def alignment_loss(current: LayerStats, reference: LayerStats) -> torch.Tensor:
    """Σ over layers of the mean L1 distances of the feature means and variances to the reference."""
    losses = []
    for name, (mean, var) in current.items():
        ref_mean, ref_var = reference[name]
        if mean.shape != ref_mean.shape:
            raise ValueError(
                f"reference statistics of layer {name!r} have {ref_mean.shape[0]} features, "
                f"the layer outputs {mean.shape[0]}"
            )
        losses.append((mean - ref_mean).abs().mean() + (var - ref_var).abs().mean())
    return torch.stack(losses).sum()


class StatsAlignment:
    """The alignment term of a tower: records its layers' outputs and compares them with a reference.

    The reference is the stored clean statistics, or without them the first batch after
    :meth:`reset`.
    """

    def __init__(self, tower: nn.Module, stats: SourceStats | None):
        self.recorder = LayerRecorder(tower)
        #: features per layer (the width of an empty share's zero sums)
        self.widths = {
            name: int(next(module.parameters(recurse=False)).shape[0])
            for name, module in self.recorder.layers.items()
        }
        self.stats = stats
        if stats is not None:
            missing = sorted(set(self.recorder.layers) - set(stats.layers))
            extra = sorted(set(stats.layers) - set(self.recorder.layers))
            if missing or extra:
                raise ValueError(
                    "source statistics do not match the query tower's normalisation layers: "
                    f"missing {missing[:3]}, not in the tower {extra[:3]}"
                )
        self.reset()

    @contextmanager
    def capture(self, batch: Any) -> Iterator[None]:
        """Record the layer outputs of the forwards run inside this block."""
        with self.recorder.capture(batch):
            yield

    def loss(self) -> torch.Tensor:
        """The alignment loss of the last captured forward (0 on the batch that sets the reference)."""
        current = batch_stats(self.recorder.rows, self.widths)
        if self.reference is None:
            self.reference = {name: (m.detach(), v.detach()) for name, (m, v) in current.items()}
        return alignment_loss(current, self.reference)

    def reset(self) -> None:
        self.reference: LayerStats | None = self.stats.layers if self.stats is not None else None

    def state(self) -> dict[str, Any]:
        return {"reference": None if self.stats is not None else self.reference}

    def load(self, state: dict[str, Any]) -> None:
        if self.stats is None:
            self.reference = state["reference"]


class AlignmentTerm:
    """Mixin for an :class:`Adapter` with an alignment term: it records the layer outputs of each
    query forward and keeps the term's reference across batches, in checkpoints and resets.

    The host sets ``self.alignment`` (a :class:`StatsAlignment`, or None when its weight is 0)
    after ``Adapter.__init__``; it reads the term with ``self.alignment.loss()``.
    """

    alignment: StatsAlignment | None

    def embed(self, batch: Any) -> torch.Tensor:
        if self.alignment is None:
            return super().embed(batch)  # type: ignore[misc]
        with self.alignment.capture(self.local_share(batch)):  # type: ignore[attr-defined]
            return super().embed(batch)  # type: ignore[misc]

    def reset_state(self) -> None:
        super().reset_state()  # type: ignore[misc]
        if getattr(self, "alignment", None) is not None:  # reset runs inside Adapter.__init__ too
            self.alignment.reset()

    def extra_state(self) -> dict[str, Any]:
        alignment = self.alignment.state() if self.alignment is not None else None
        return {**super().extra_state(), "alignment": alignment}  # type: ignore[misc]

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)  # type: ignore[misc]
        if self.alignment is not None:
            self.alignment.load(state["alignment"])


class Align(AlignmentTerm, Adapter):
    """Match each normalisation layer's batch statistics to the clean ones (module docstring)."""

    name = "align"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.alignment = StatsAlignment(self.encoder, self.stats)

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        return self.alignment.loss(), self.gallery.scores(z).detach()
