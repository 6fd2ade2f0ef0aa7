"""``compute_source_stats``: the clean-query statistics of a model's query tower on a dataset.

Source-statistics methods (``recenter``, ``align``, ``qshift``) compare a shifted stream with
these statistics, so they are taken on clean queries only, from a split that the evaluation
does not use (for scenes: train or val when reporting on test, train when choosing on val).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from qshift.data.base import RetrievalDataset
from qshift.data.queries import QueryBatches
from qshift.encoders.base import Direction, DualEncoder, check_direction, move_batch
from qshift.methods.source_stats import SourceStats, collect_source_stats
from qshift.shifts import streams


def compute_source_stats(
    encoder: DualEncoder,
    dataset: RetrievalDataset,
    direction: str,
    *,
    queries: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    workers: int = 2,
) -> SourceStats:
    """Statistics of ``encoder``'s query tower for ``direction`` over clean queries of ``dataset``.

    ``queries`` keeps the first that many queries of the seeded stream order, a random subset
    (None: all of them).
    """
    checked: Direction = check_direction(direction)
    batches = QueryBatches(encoder, dataset, checked, seed=seed, workers=workers)
    plan = streams.single(batches.num_queries, "none", batch_size, seed)
    if queries is not None:
        if queries < 1:
            raise ValueError(f"queries must be >= 1, got {queries}")
        order = np.concatenate([b.indices for b in plan])[:queries]
        clean = plan.batches[0].shifts[0]
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        plan = streams.StreamPlan(
            [streams.PlannedBatch(idx, (clean,) * len(idx), "none") for idx in chunks], name="none"
        )
    meta = {
        "model": getattr(encoder, "name", type(encoder).__name__),
        "dataset": dataset.name,
        "direction": checked,
    }
    return collect_source_stats(encoder.query_tower(checked), _prepared(batches, plan, encoder), meta)


def _prepared(batches: QueryBatches, plan: streams.StreamPlan, encoder: DualEncoder) -> Iterator[Any]:
    for _, prepared, _ in batches.iterate(plan):
        yield move_batch(prepared, encoder.device)
