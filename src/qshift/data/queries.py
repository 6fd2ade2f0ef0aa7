"""Turn a planned stream into prepared query batches: load, shift, preprocess.

Each query's shift is seeded from (stream seed, query index, shift), so an item looks the
same whatever batch or order it arrives in. Images are loaded and corrupted by a thread pool
and the next batch is prepared while the current one adapts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from qshift.data.base import RetrievalDataset
from qshift.encoders.base import Direction, DualEncoder, check_direction
from qshift.shifts import apply, kind_of
from qshift.shifts.spec import ShiftSpec
from qshift.shifts.streams import PlannedBatch, StreamPlan
from qshift.utils.seeds import item_seed

Modality = Literal["image", "text"]


def query_modality(direction: Direction) -> Modality:
    """Images are the queries of i2t, captions of t2i."""
    return "image" if check_direction(direction) == "i2t" else "text"


class QueryBatches:
    """Prepared query batches of ``dataset`` for ``direction`` under a stream plan."""

    def __init__(
        self,
        encoder: DualEncoder,
        dataset: RetrievalDataset,
        direction: Direction,
        *,
        seed: int = 0,
        workers: int = 2,
        shift_options: dict[str, Any] | None = None,
    ):
        self.encoder = encoder
        self.dataset = dataset
        self.modality = query_modality(direction)
        self.seed = seed
        self.workers = max(1, workers)
        self.shift_options = shift_options or {}
        self.groups = dataset.image_groups if self.modality == "image" else dataset.text_groups

    @property
    def num_queries(self) -> int:
        return len(self.groups)

    def check_shift(self, spec: ShiftSpec) -> None:
        """ValueError when ``spec`` cannot shift this stream's query modality."""
        if spec.is_clean:
            return
        if self.modality == "text" and spec.name in self.dataset.text_variants:
            return
        kind = kind_of(spec.name)
        if kind != self.modality:
            raise ValueError(
                f"shift {spec} is a {kind} shift but the queries of this direction are {self.modality}s"
            )

    def raw_item(self, index: int, spec: ShiftSpec) -> Any:
        """One query, shifted: an H×W×3 uint8 image or a caption."""
        if self.modality == "text":
            if spec.name in self.dataset.text_variants:
                return self.dataset.text_variants[spec.name][index]
            item: Any = self.dataset.texts[index]
        else:
            item = self.dataset.images[index]
        if spec.is_clean:
            return item
        seed = item_seed(self.seed, index, spec.name, spec.severity)
        return apply(spec.name, item, spec.severity, seed, **self.shift_options)

    def prepare(self, batch: PlannedBatch, pool: ThreadPoolExecutor | None = None) -> Any:
        """The encoder-ready input of one planned batch."""
        pairs = list(zip(batch.indices.tolist(), batch.shifts, strict=True))
        if pool is None or self.modality == "text":
            items = [self.raw_item(i, s) for i, s in pairs]
        else:
            items = list(pool.map(lambda pair: self.raw_item(*pair), pairs))
        return self.encoder.prepare(self.modality, items)

    def iterate(
        self, plan: StreamPlan, prepare: Callable[[PlannedBatch, ThreadPoolExecutor], Any] | None = None
    ) -> Iterator[tuple[PlannedBatch, Any, np.ndarray]]:
        """Yield (planned batch, prepared input, query groups), preparing one batch ahead.

        ``prepare(batch, pool)`` replaces :meth:`prepare` (torchrun prepares a share per rank).
        """
        prepare = prepare or self.prepare
        for spec in {s for b in plan for s in b.shifts}:
            self.check_shift(spec)
        batches = list(plan)
        if not batches:
            return
        with ThreadPoolExecutor(self.workers) as pool, ThreadPoolExecutor(1) as ahead:
            pending: Future = ahead.submit(prepare, batches[0], pool)
            for i, batch in enumerate(batches):
                prepared = pending.result()
                if i + 1 < len(batches):
                    pending = ahead.submit(prepare, batches[i + 1], pool)
                yield batch, prepared, self.groups[batch.indices]
