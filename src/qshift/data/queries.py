"""Turn a planned stream into prepared query batches: load, shift, preprocess.

Each query's shift is seeded from (stream seed, query index, shift), so an item looks the
same whatever batch or order it arrives in. Items are loaded and shifted by a thread pool and
the next batch is prepared while the current one adapts. The queries are the items of the
task's query modality; a composed query (``image+text``) is shifted in the part its shift
names (``image:fog@5`` corrupts the reference image).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from qshift import registry
from qshift.data.base import Groups, RetrievalDataset, select
from qshift.encoders.base import RetrievalModel
from qshift.shifts import apply
from qshift.shifts.spec import ShiftSpec
from qshift.shifts.streams import PlannedBatch, StreamPlan
from qshift.tasks import Task, get_task, is_composed, parts
from qshift.utils.seeds import item_seed


def query_modality(direction: str | Task) -> str:
    """The modality of the task's queries (images for i2t, captions for t2i, …)."""
    return get_task(direction).query


class QueryBatches:
    """Prepared query batches of ``dataset`` for task ``direction`` under a stream plan."""

    def __init__(
        self,
        encoder: RetrievalModel,
        dataset: RetrievalDataset,
        direction: str | Task,
        *,
        seed: int = 0,
        workers: int = 2,
        shift_options: dict[str, Any] | None = None,
    ):
        self.encoder = encoder
        self.dataset = dataset
        self.task = get_task(direction)
        self.modality = self.task.query
        if self.modality not in dataset.items:
            raise ValueError(
                f"dataset {dataset.name!r} has no {self.modality} items for task {self.task.name}"
            )
        encoder.check_modality(self.modality)
        self.seed = seed
        self.workers = max(1, workers)
        self.shift_options = shift_options or {}
        self.items = dataset.items[self.modality]
        self.groups: Groups = dataset.groups[self.modality]
        self.native = dataset.variants.get(self.modality, {})

    @property
    def num_queries(self) -> int:
        return len(self.items)

    @property
    def gathers_raw_items(self) -> bool:
        """True when a batch must be prepared whole (tokenised text pads to the batch's longest)."""
        return "text" in parts(self.modality)

    def shifted_part(self, spec: ShiftSpec) -> str:
        """The modality ``spec`` shifts: the query's, or the named part of a composed query."""
        if not is_composed(self.modality):
            if spec.part not in (None, self.modality):
                raise ValueError(
                    f"shift {spec}: the queries of {self.task.name} are {self.modality}, not {spec.part}"
                )
            return self.modality
        if spec.part is None:
            raise ValueError(
                f"shift {spec}: {self.task.name} queries are {self.modality}; name the part, "
                f"e.g. {parts(self.modality)[0]}:{spec.name}@{spec.severity}"
            )
        if spec.part not in parts(self.modality):
            raise ValueError(f"shift {spec}: {spec.part} is not a part of {self.modality} queries")
        return spec.part

    def native_key(self, spec: ShiftSpec) -> str | None:
        """The dataset variant that renders ``spec`` natively, if any.

        Variants of a single modality are keyed by the shift's name (``formal``); those of a
        composed modality by the part they change (``text:formal``), reached by ``text:formal@5``.
        """
        key = f"{spec.part}:{spec.name}" if spec.part else spec.name
        return key if key in self.native else None

    def check_shift(self, spec: ShiftSpec) -> None:
        """ValueError when ``spec`` cannot shift this stream's queries."""
        if spec.is_clean or self.native_key(spec) is not None:
            return
        part = self.shifted_part(spec)
        found = registry.modalities_of(spec.name)
        if not found:
            raise ValueError(f"unknown shift {spec.name!r}; see `qshift list` for the available shifts")
        if part not in found:
            where = f"the {part} part of {self.task.name} queries" if part != self.modality else "the queries"
            raise ValueError(f"shift {spec} is a {'/'.join(found)} shift but {where} of this task are {part}")

    def raw_item(self, index: int, spec: ShiftSpec) -> Any:
        """One query, shifted."""
        native = self.native_key(spec)
        if native is not None:
            return self.native[native][index]
        item = self.items[index]
        if spec.is_clean:
            return item
        part = self.shifted_part(spec)
        seed = item_seed(self.seed, index, spec.name, spec.severity)
        if part == self.modality:
            return apply(spec.name, item, spec.severity, seed, modality=part, **self.shift_options)
        shifted = apply(
            spec.name, getattr(item, part), spec.severity, seed, modality=part, **self.shift_options
        )
        return item._replace(**{part: shifted})

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
    ) -> Iterator[tuple[PlannedBatch, Any, Groups]]:
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
                yield batch, prepared, select(self.groups, batch.indices)
