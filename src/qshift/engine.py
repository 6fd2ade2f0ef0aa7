"""The online loop: query batches in, recorded scores out, metrics accumulated.

Only one batch's (B, N) scores exist at a time; per query the metrics keep its best rank
and AP, and the geometry keeps its embedding (before and after adaptation). For galleries that
record top-k (large N) the adapter returns each query's top-k and
:class:`~qshift.metrics.TopKMetrics` ranks
within it: R@1/5/10 stay exact and mAP becomes mAP@k.

Under torchrun every rank runs the loop on the same global batches (the adapter shares the
work); only rank 0 accumulates metrics and geometry, and its result is broadcast at the end.

Reset policies: ``continual`` (never), ``episodic`` (every batch), an integer n (every n
batches), or ``drift`` / ``drift:k`` (qshift's own): reset when the stream's own statistics
jump (:class:`DriftDetector`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from qshift import collective
from qshift.data.base import per_query_rows
from qshift.encoders.base import move_batch
from qshift.gallery import TopK
from qshift.methods.base import Adapter, Scores
from qshift.metrics import Geometry, RetrievalMetrics, TopKMetrics, recall_at
from qshift.shifts.streams import PlannedBatch

ResetPolicy = str | int

#: default drift threshold k, in EMA standard deviations
DRIFT_K = 3.0


def drift_threshold(policy: ResetPolicy) -> float | None:
    """k of a ``drift`` / ``drift:k`` policy (``drift`` → 3), None for any other policy."""
    if not isinstance(policy, str) or policy.split(":", 1)[0] != "drift":
        return None
    if policy == "drift":
        return DRIFT_K
    value = policy.split(":", 1)[1]
    try:
        k = float(value)
    except ValueError:
        k = math.nan
    if not (math.isfinite(k) and k > 0):
        raise ValueError(
            f"reset policy {policy!r}: the drift threshold must be a finite number > 0 of "
            f"standard deviations, got {value!r}"
        )
    return k


def reset_interval(policy: ResetPolicy) -> int | None:
    """Batches between resets: ``continual`` or ``drift[:k]`` → never, ``episodic`` → 1, an int n → n."""
    if policy == "continual" or drift_threshold(policy) is not None:
        return None
    if policy == "episodic":
        return 1
    try:
        every = int(policy)
    except (TypeError, ValueError):
        raise ValueError(
            "reset policy must be 'continual', 'episodic', 'drift', 'drift:<k>' or a number of "
            f"batches, got {policy!r}"
        ) from None
    if every < 1:
        raise ValueError(f"reset interval must be >= 1 batch, got {every}")
    return every


class DriftDetector:
    """Flags a batch whose mean top score jumps away from the recent stream (qshift's own).

    The statistic is the batch mean of each query's top gallery score under the current
    weights, before adapting. An exponential moving mean and variance (momentum 0.9; the plain
    running mean and variance over the first 10 batches, so that early estimates are not pulled
    toward 0) describe the recent stream. A batch jumps when it lies more than ``k`` standard
    deviations from the moving mean, where the deviation of a new value from a weighted mean
    has variance σ²·(1 + Σ w_i²) (the second term: the mean's own uncertainty, large while few
    batches are behind it). σ is floored at the batch's own standard error (std of its top
    scores / √B): with a few batches behind it the moving estimate can be far too small, and a
    stationary stream moves the batch mean by about that much anyway. No batch jumps before
    ``warmup`` batches are behind the estimate, and a jump starts a fresh estimate (the
    weights behind the old one are gone after the reset).
    """

    momentum = 0.9

    def __init__(self, k: float = DRIFT_K, warmup: int = 3):
        self.k = k
        self.warmup = warmup
        self.clear()

    def clear(self) -> None:
        """Forget the stream seen so far."""
        self.count = 0
        self.mean = 0.0
        self.var = 0.0
        self.weights_sq = 0.0  # Σ w_i² of the batches' weights in the moving mean

    def jumps(self, top_scores: torch.Tensor) -> bool:
        """True when this batch's statistic jumps (and the estimate restarts), else absorb it."""
        value = float(top_scores.mean())
        if self.count >= self.warmup:
            error = float(top_scores.std()) / math.sqrt(len(top_scores)) if len(top_scores) > 1 else 0.0
            sigma = max(math.sqrt(self.var), error)
            if abs(value - self.mean) > self.k * sigma * math.sqrt(1 + self.weights_sq):
                self.clear()
                return True
        self.count += 1
        alpha = max(1 / self.count, 1 - self.momentum)
        diff = value - self.mean
        self.mean += alpha * diff
        self.var = (1 - alpha) * (self.var + alpha * diff * diff)
        self.weights_sq = (1 - alpha) ** 2 * self.weights_sq + alpha**2
        return False


def top_scores(scores: Scores) -> torch.Tensor:
    """Each query's best gallery score, from dense (B, N) scores or top-k."""
    if isinstance(scores, TopK):
        return scores.values[:, 0].float()
    return scores.max(dim=1).values.float()


@dataclass
class BatchRecord:
    """What one batch contributed, for over-time plots."""

    label: str
    size: int
    r1: float
    probe: bool = False
    source_r1: float | None = None
    #: the drift policy reset the adapter before this batch
    drift_reset: bool = False


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
    #: resets fired by the ``drift`` policy
    drift_resets: int = 0


def run_stream(
    adapter: Adapter,
    batches: Iterable[tuple[PlannedBatch, Any, Any]],
    gallery_groups: np.ndarray,
    *,
    reset: ResetPolicy = "continual",
    geometry_before: bool = True,
    progress: bool | str = False,
    total: int | None = None,
    excluded: Sequence[np.ndarray] | None = None,
    subsets: Sequence[np.ndarray] | None = None,
    extra_metrics: Sequence[str] = (),
) -> StreamResult:
    """Adapt on every batch in order and score it; probe batches are scored, not adapted on.

    Under the ``drift`` policy every batch is first scored without adapting (one extra forward)
    and the adapter is reset before adapting on a batch whose statistics jump. ``excluded`` and
    ``subsets`` are indexed by query: gallery items a query never ranks, and its candidate
    subset for Recall_subset; ``extra_metrics`` names metrics beyond R@1/5/10 and mAP.
    """
    every = reset_interval(reset)
    k = drift_threshold(reset)
    drift = DriftDetector(k) if k is not None else None
    drift_resets = 0
    main = adapter.world.is_main
    kind = TopKMetrics if adapter.gallery.records_topk else RetrievalMetrics
    metrics, probes, probes_source = (kind(gallery_groups, extra_metrics) for _ in range(3))
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
        rows = planned.indices.tolist()
        batch_subsets = per_query_rows(subsets, rows)
        with adapter.excluding(per_query_rows(excluded, rows)):
            if planned.probe:
                # every rank takes part in the collectives; rank 0 keeps the numbers
                scored, source = adapter.score(prepared), adapter.record(adapter.source_embed(prepared))
                if main:
                    ranks = probes.update(scored, groups, batch_subsets)
                    source_ranks = probes_source.update(source, groups, batch_subsets)
                    records.append(
                        BatchRecord(
                            planned.label, len(groups), recall_at(ranks, 1), True, recall_at(source_ranks, 1)
                        )
                    )
                continue
            if every is not None and adapted > 0 and adapted % every == 0:
                adapter.reset()
            # every rank scores the same global batch, so every rank takes the same decision
            jumped = drift is not None and drift.jumps(top_scores(adapter.score(prepared)))
            if jumped:
                adapter.reset()
                drift_resets += 1
            source_z = adapter.source_embed(prepared) if before is not None else None
            scores = adapter(prepared)
        adapted += 1
        if not main:
            continue
        if before is not None:
            before.update(source_z)
        ranks = metrics.update(scores, groups, batch_subsets)
        assert adapter.last_embeddings is not None
        after.update(adapter.last_embeddings)
        records.append(BatchRecord(planned.label, len(groups), recall_at(ranks, 1), drift_reset=jumped))
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
            drift_resets=drift_resets,
        )
    return collective.broadcast_object(result)
