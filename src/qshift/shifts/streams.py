"""Query streams: which queries arrive in which batch, under which shift.

A stream is a :class:`StreamPlan`, a list of batches, each a list of query indices with one
shift per query. Every builder is a deterministic function of its arguments and ``seed``.
The default order is ``torch.randperm(n)`` from a generator seeded with ``seed`` (method.md §1);
streams longer than one pass draw further permutations from the same generator.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from qshift.shifts.spec import ShiftSpec, parse_shift

DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class PlannedBatch:
    """One batch: query indices, the shift applied to each, and a label for reporting."""

    indices: np.ndarray
    shifts: tuple[ShiftSpec, ...]
    label: str
    #: a clean probe batch: scored, never adapted on (forgetting measurements)
    probe: bool = False

    def __len__(self) -> int:
        return len(self.indices)


@dataclass
class StreamPlan:
    """An ordered list of planned batches."""

    batches: list[PlannedBatch] = field(default_factory=list)
    name: str = "stream"

    def __iter__(self) -> Iterator[PlannedBatch]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def num_queries(self) -> int:
        return sum(len(b) for b in self.batches if not b.probe)


class _IndexDraw:
    """Successive permutations of ``range(n)`` from one seeded generator."""

    def __init__(self, n: int, seed: int):
        if n < 1:
            raise ValueError("a stream needs at least one query")
        self.n = n
        self.generator = torch.Generator().manual_seed(seed)
        self.pending = np.empty(0, dtype=np.int64)

    def take(self, count: int) -> np.ndarray:
        while len(self.pending) < count:
            self.pending = np.concatenate(
                [self.pending, torch.randperm(self.n, generator=self.generator).numpy()]
            )
        out, self.pending = self.pending[:count], self.pending[count:]
        return out


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")


def _chunks(indices: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]


def single(
    n: int, shift: str | ShiftSpec = "none", batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0
) -> StreamPlan:
    """Every query once, in the default random order, all under ``shift``."""
    _check_batch_size(batch_size)
    spec = parse_shift(shift)
    order = _IndexDraw(n, seed).take(n)
    batches = [PlannedBatch(idx, (spec,) * len(idx), str(spec)) for idx in _chunks(order, batch_size)]
    return StreamPlan(batches, name=str(spec))


def continual(
    n: int,
    shifts: Sequence[str | ShiftSpec],
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    batches_per_shift: int | None = None,
    rounds: int = 1,
) -> StreamPlan:
    """Shifts back to back (``rounds`` times), switching every ``batches_per_shift`` batches.

    ``batches_per_shift=None`` gives each shift one full pass over the queries.
    """
    _check_batch_size(batch_size)
    specs = [parse_shift(s) for s in shifts]
    if not specs or rounds < 1:
        raise ValueError("a continual stream needs at least one shift and one round")
    draw = _IndexDraw(n, seed)
    plan = StreamPlan(name="continual")
    for _ in range(rounds):
        for spec in specs:
            total = n if batches_per_shift is None else batches_per_shift * batch_size
            for idx in _chunks(draw.take(total), batch_size):
                plan.batches.append(PlannedBatch(idx, (spec,) * len(idx), str(spec)))
    return plan


def gradual(
    n: int,
    shift: str,
    severities: Sequence[int] = (1, 2, 3, 4, 5, 4, 3, 2, 1),
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    batches_per_level: int | None = None,
) -> StreamPlan:
    """One shift whose severity rises and falls (default 1→5→1)."""
    plan = continual(n, [ShiftSpec(shift, s) for s in severities], batch_size, seed, batches_per_level)
    plan.name = f"gradual:{shift}"
    return plan


def mixed(
    n: int,
    shifts: Sequence[str | ShiftSpec],
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    passes: int = 1,
) -> StreamPlan:
    """Diverse shift: each query draws its shift uniformly from ``shifts``."""
    _check_batch_size(batch_size)
    specs = [parse_shift(s) for s in shifts]
    if not specs:
        raise ValueError("a mixed stream needs at least one shift")
    order = _IndexDraw(n, seed).take(n * passes)
    rng = np.random.default_rng(seed)
    choice = rng.integers(0, len(specs), size=len(order))
    batches = [
        PlannedBatch(
            idx, tuple(specs[c] for c in choice[i * batch_size : i * batch_size + len(idx)]), "mixed"
        )
        for i, idx in enumerate(_chunks(order, batch_size))
    ]
    return StreamPlan(batches, name="mixed")


def sorted_by(
    labels: Sequence[int],
    shift: str | ShiftSpec = "none",
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
) -> StreamPlan:
    """Non-i.i.d. order: queries grouped by ``labels`` (ties in random order)."""
    _check_batch_size(batch_size)
    spec = parse_shift(shift)
    keys = np.asarray(labels)
    order = _IndexDraw(len(keys), seed).take(len(keys))
    order = order[np.argsort(keys[order], kind="stable")]
    batches = [PlannedBatch(idx, (spec,) * len(idx), str(spec)) for idx in _chunks(order, batch_size)]
    return StreamPlan(batches, name=f"sorted:{spec}")


def with_probes(
    plan: StreamPlan, n: int, every: int, probe_size: int = DEFAULT_BATCH_SIZE, seed: int = 0
) -> StreamPlan:
    """Insert a clean probe batch after every ``every`` batches (scored, not adapted on)."""
    if every < 1:
        raise ValueError(f"probe interval must be >= 1, got {every}")
    draw = _IndexDraw(n, seed + 1_000_003)
    clean = ShiftSpec("none")
    out = StreamPlan(name=plan.name)
    for i, batch in enumerate(plan.batches, start=1):
        out.batches.append(batch)
        if i % every == 0:
            idx = draw.take(min(probe_size, n))
            out.batches.append(PlannedBatch(idx, (clean,) * len(idx), "probe", probe=True))
    return out
