"""The online loop: query batches in, recorded scores out, metrics accumulated.

Only one batch's (B, N) scores exist at a time; per query the metrics keep its best rank
and AP, and the geometry keeps its embedding (before and after adaptation). For galleries that
record top-k (large N) the adapter returns each query's top-k and
:class:`~qshift.metrics.TopKMetrics` ranks
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
from qshift.methods.base import Adapter
from qshift.metrics import Geometry, RetrievalMetrics, TopKMetrics, recall_at
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
