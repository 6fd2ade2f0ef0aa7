"""The headroom rows of a bench table: the supervised oracle on the same cell as the methods.

For one (task, shift, seed) cell, :func:`oracle_rows` fits the oracle (:mod:`qshift.bench.oracle`)
held-out and transductively and returns rows shaped like the methods' rows, marked as upper
bounds, so that tables show them last and compute each method's share of the headroom.
"""

from __future__ import annotations

from typing import Any

import torch

from qshift.data.base import RetrievalDataset
from qshift.encoders.base import RetrievalModel
from qshift.results.tables import ORACLE_HELDOUT, ORACLE_TRANSDUCTIVE

#: (row name, oracle mode) of the two upper bounds
ORACLE_MODES = ((ORACLE_HELDOUT, "heldout"), (ORACLE_TRANSDUCTIVE, "transductive"))


def oracle_rows(
    encoder: RetrievalModel,
    data: RetrievalDataset,
    direction: str,
    shift: str,
    seed: int,
    gallery: torch.Tensor,
    *,
    batch_size: int = 64,
    workers: int = 2,
    missing: tuple[str, ...] = (ORACLE_HELDOUT, ORACLE_TRANSDUCTIVE),
) -> list[dict[str, Any]]:
    """The rows of the oracles named in ``missing`` for one cell (metrics in percent)."""
    from qshift.bench.oracle import oracle

    rows = []
    for name, mode in ORACLE_MODES:
        if name not in missing:
            continue
        result = oracle(
            encoder, data, direction, shift, mode=mode, seed=seed, gallery=gallery, batch_size=batch_size,
            workers=workers,
        )  # fmt: skip
        rows.append(
            {
                "method": name,
                **{k: round(v, 4) for k, v in result.metrics.items()},
                "source_r1": round(result.source_metrics["r1"], 4),
                "upper_bound": True,
                "queries": result.queries,
                "seconds": round(result.seconds, 3),
            }
        )
    return rows
