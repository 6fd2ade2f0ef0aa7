"""The online loop: query batches in, recorded scores out, metrics accumulated.

Only one batch's (B, N) scores exist at a time; per query the metrics keep its best rank
and AP, and the geometry keeps its embedding (before and after adaptation). For galleries that
record top-k (large N) the adapter returns each query's top-k and :class:`TopKMetrics` ranks
within it: R@1/5/10 stay exact and mAP becomes mAP@k.

Under torchrun every rank runs the loop on the same global batches (the adapter shares the
work); only rank 0 accumulates metrics and geometry, and its result is broadcast at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from qshift import distributed
from qshift.encoders.base import move_batch
from qshift.gallery import TopK
from qshift.methods.base import Adapter
from qshift.metrics import KS, Geometry, RetrievalMetrics, recall_at
from qshift.shifts.streams import PlannedBatch

ResetPolicy = str | int


def reset_interval(policy: ResetPolicy) -> int | None:
    """Batches between resets: ``continual`` → never, ``episodic`` → 1, an int n → n."""
    if policy == "continual":
        return None
    if policy == "episodic":
        return 1
    try:
        every = int(policy)
    except (TypeError, ValueError):
        raise ValueError(
            f"reset policy must be 'continual', 'episodic' or a number of batches, got {policy!r}"
        ) from None
    if every < 1:
        raise ValueError(f"reset interval must be >= 1 batch, got {every}")
    return every


class TopKMetrics:
    """Streaming R@1/5/10, r_mean and mAP@k from each query's top-k (scores, indices).

    A relevant item's rank counts, as :class:`~qshift.metrics.RetrievalMetrics` does over the
    whole gallery, the items scoring higher plus the non-relevant items tied with it (only
    those in the top-k are seen); a query none of whose relevant items is in its top-k gets
    rank k, so R@K is exact for K <= k. AP@k sums the precision at each relevant item found in
    the top-k and divides by min(#relevant, k).
    """

    def __init__(self, gallery_groups: np.ndarray | torch.Tensor):
        self.groups = torch.as_tensor(np.asarray(gallery_groups), dtype=torch.long)
        values, counts = torch.unique(self.groups, return_counts=True)
        self.group_sizes = dict(zip(values.tolist(), counts.tolist(), strict=True))
        self.best_ranks: list[torch.Tensor] = []
        self.aps: list[torch.Tensor] = []

    def update(self, found: TopK, query_groups: np.ndarray) -> torch.Tensor:
        """Add one batch; returns the batch's best ranks (k for queries with no hit)."""
        values, indices = found.values.float().cpu(), found.indices.cpu()
        if values.shape[0] != len(query_groups):
            raise ValueError(f"top-k of {values.shape[0]} queries do not match {len(query_groups)} queries")
        k = values.shape[1]
        if k < max(KS):
            raise ValueError(f"top-k metrics need k >= {max(KS)}, got k = {k}")
        wanted = torch.as_tensor(np.asarray(query_groups), dtype=torch.long)[:, None]
        relevant = (indices >= 0) & (self.groups[indices.clamp_min(0)] == wanted)
        # [b, j, i]: listed item i scores above listed item j, or ties with it and is not relevant
        above = values[:, None, :] > values[:, :, None]
        tied = (values[:, None, :] == values[:, :, None]) & ~relevant[:, None, :]
        ranks = (above | tied).sum(dim=2)
        ranks = torch.where(relevant, ranks, torch.full_like(ranks, k)).sort(dim=1).values
        position = torch.arange(1, k + 1)[None]
        placed = torch.maximum(ranks, position - 1)  # relevant items tied together take turns
        precision = torch.where(ranks < k, position / (placed + 1).float(), torch.zeros(()))
        totals = torch.tensor([min(self.group_sizes.get(int(g), 0), k) for g in wanted[:, 0]])
        self.best_ranks.append(ranks[:, 0])
        self.aps.append(precision.sum(dim=1) / totals.clamp_min(1))
        return ranks[:, 0]

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.best_ranks)

    def compute(self) -> dict[str, float]:
        """R@1, R@5, R@10, r_mean and mAP@k in percent (same keys as the dense metrics)."""
        if not self.best_ranks:
            raise ValueError("no batches were scored")
        ranks = torch.cat(self.best_ranks)
        out = {f"r{k}": 100.0 * float((ranks < k).double().mean()) for k in KS}
        out["r_mean"] = sum(out[f"r{k}"] for k in KS) / len(KS)
        out["map"] = 100.0 * float(torch.cat(self.aps).double().mean())
        return out


@dataclass
class BatchRecord:
    """What one batch contributed, for over-time plots."""

    label: str
    size: int
    r1: float
    probe: bool = False
    source_r1: float | None = None


@dataclass
class StreamResult:
    """Metrics and geometry of one stream through one adapter."""

    metrics: dict[str, float]
    geometry_after: dict[str, float]
    geometry_before: dict[str, float] | None
    queries: int
    seconds: float
    batches: list[BatchRecord] = field(default_factory=list)
    probe_metrics: dict[str, float] | None = None
    probe_source_metrics: dict[str, float] | None = None


def run_stream(
    adapter: Adapter,
    batches: Iterable[tuple[PlannedBatch, Any, np.ndarray]],
    gallery_groups: np.ndarray,
    *,
    reset: ResetPolicy = "continual",
    geometry_before: bool = True,
    progress: bool | str = False,
    total: int | None = None,
) -> StreamResult:
    """Adapt on every batch in order and score it; probe batches are scored, not adapted on."""
    every = reset_interval(reset)
    main = adapter.world.is_main
    kind = TopKMetrics if adapter.gallery.records_topk else RetrievalMetrics
    metrics, probes, probes_source = kind(gallery_groups), kind(gallery_groups), kind(gallery_groups)
    centroid = adapter.gallery.embeddings.mean(dim=0, dtype=torch.float32)
    after, before = Geometry(centroid), Geometry(centroid) if geometry_before else None
    records: list[BatchRecord] = []
    device = adapter.gallery.device
    desc = progress if isinstance(progress, str) else adapter.name
    adapted = 0
    start = time.perf_counter()
    shown = bool(progress) and main
    for planned, prepared, groups in tqdm(batches, total=total, desc=desc, disable=not shown, leave=False):
        prepared = move_batch(prepared, device)
        if planned.probe:
            # every rank takes part in the collectives; rank 0 keeps the numbers
            scored, source = adapter.score(prepared), adapter.record(adapter.source_embed(prepared))
            if main:
                ranks, source_ranks = probes.update(scored, groups), probes_source.update(source, groups)
                records.append(
                    BatchRecord(
                        planned.label, len(groups), recall_at(ranks, 1), True, recall_at(source_ranks, 1)
                    )
                )
            continue
        if every is not None and adapted > 0 and adapted % every == 0:
            adapter.reset()
        source_z = adapter.source_embed(prepared) if before is not None else None
        scores = adapter(prepared)
        adapted += 1
        if not main:
            continue
        if before is not None:
            before.update(source_z)
        ranks = metrics.update(scores, groups)
        assert adapter.last_embeddings is not None
        after.update(adapter.last_embeddings)
        records.append(BatchRecord(planned.label, len(groups), recall_at(ranks, 1)))
    seconds = time.perf_counter() - start
    result = None
    if main:
        result = StreamResult(
            metrics=metrics.compute(),
            geometry_after=after.compute(),
            geometry_before=before.compute() if before is not None else None,
            queries=metrics.count,
            seconds=seconds,
            batches=records,
            probe_metrics=probes.compute() if probes.count else None,
            probe_source_metrics=probes_source.compute() if probes_source.count else None,
        )
    return distributed.broadcast_object(result)
