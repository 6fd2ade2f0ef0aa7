"""Scenario streams for ``qshift bench --scenario``: diverse, continual, gradual and temporal shift.

A scenario is a long stream over the whole shift family of one direction (the 16 image
corruptions for i2t, the paper's 15 text shifts for t2i), or for ``temporal`` a drift of video
queries, with clean probe batches interleaved every ``probe_every`` batches. Probes are scored
by the adapted model and by the source model and never adapted on, so
``forgetting = source probe R@1 − adapted probe R@1``.

- ``diverse``: every query draws its shift and a severity in 3–5 at random
  (:func:`~qshift.shifts.streams.mixed`); one pass over the queries per shift, so the stream
  is as long as one continual round.
- ``continual``: the shifts at severity 5 back to back, one pass each, ``rounds`` rounds, no
  reset (:func:`~qshift.shifts.streams.continual`).
- ``gradual``: each shift in turn at severity 1→5→1, one batch per level (the levels of
  :func:`~qshift.shifts.streams.gradual`, all shifts drawing from one index generator).
- ``temporal``: the temporal-sequence query shift of video queries (tasks whose queries are
  video, e.g. v2a): the clips drift from clean through Gaussian noise rising from severity 1 to
  5 into motion blur rising from 1 to 5, one pass over the queries per stage, no reset
  (:data:`TEMPORAL_STAGES`).

Every (scenario, direction, method, seed, hparams) is one row of ``results.jsonl``, resumable
like the shift bench; its ``shift`` field is the stream label (``"continual×3"``, plus
``" reset=P"`` under a reset policy other than continual).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from qshift.data.base import RetrievalDataset
from qshift.distributed import is_main
from qshift.encoders.base import RetrievalModel
from qshift.engine import BatchRecord, ResetPolicy, StreamResult
from qshift.errors import ParameterError
from qshift.methods.base import Adapter
from qshift.results import cell
from qshift.shifts import streams
from qshift.shifts.spec import ShiftSpec
from qshift.tasks import get_task

SCENARIOS = ("diverse", "continual", "gradual", "temporal")
DEFAULT_ROUNDS = 3
DEFAULT_PROBE_EVERY = 4
#: queries per run when --i2t-queries / --t2i-queries is not given: 4 batches of 64 per shift,
#: so a 3-round continual i2t stream on scenes is 192 adapted + 48 probe batches
SCENARIO_QUERIES = 256
DIVERSE_SEVERITIES = (3, 4, 5)
CONTINUAL_SEVERITY = 5
GRADUAL_SEVERITIES = (1, 2, 3, 4, 5, 4, 3, 2, 1)
#: the temporal drift of video queries: clean, then noise, then blur, each rising in severity
TEMPORAL_STAGES = (
    ShiftSpec("none"),
    *(ShiftSpec("gaussian_noise", s) for s in range(1, 6)),
    *(ShiftSpec("motion_blur", s) for s in range(1, 6)),
)


def scenario_shifts(direction: str) -> tuple[str, ...]:
    """The shift family of a direction: the 16 image corruptions or the paper's 15 text shifts."""
    from qshift.shifts import names
    from qshift.shifts.text import PAPER_TEXT_SHIFTS

    return tuple(names("image")) if direction == "i2t" else PAPER_TEXT_SHIFTS


@dataclass(frozen=True)
class Scenario:
    """One scenario stream of one direction; build it with :func:`scenario`."""

    name: str
    direction: str
    rounds: int = 1
    probe_every: int = DEFAULT_PROBE_EVERY

    @property
    def label(self) -> str:
        """The stream's name in rows and tables: ``diverse``, ``continual×3``, ``gradual``."""
        return f"{self.name}×{self.rounds}" if self.name == "continual" else self.name

    def base_plan(self, n: int, batch_size: int, seed: int) -> streams.StreamPlan:
        """The adapted batches alone, without probes."""
        if self.name == "temporal":
            plan = streams.continual(n, TEMPORAL_STAGES, batch_size, seed)
            plan.name = "temporal"
            return plan
        shifts = scenario_shifts(self.direction)
        if self.name == "diverse":
            specs = [ShiftSpec(s, v) for s in shifts for v in DIVERSE_SEVERITIES]
            return streams.mixed(n, specs, batch_size, seed, passes=len(shifts))
        if self.name == "continual":
            specs = [ShiftSpec(s, CONTINUAL_SEVERITY) for s in shifts]
            return streams.continual(n, specs, batch_size, seed, rounds=self.rounds)
        specs = [ShiftSpec(s, v) for s in shifts for v in GRADUAL_SEVERITIES]
        plan = streams.continual(n, specs, batch_size, seed, batches_per_shift=1)
        plan.name = "gradual"
        return plan

    def plan(self, n: int, batch_size: int, seed: int) -> streams.StreamPlan:
        """The stream with a clean probe batch of ``batch_size`` after every ``probe_every`` batches."""
        return streams.with_probes(
            self.base_plan(n, batch_size, seed), n, self.probe_every, probe_size=batch_size, seed=seed
        )


def scenario(
    name: str, direction: str, rounds: int | None = None, probe_every: int = DEFAULT_PROBE_EVERY
) -> Scenario:
    """A checked :class:`Scenario`; ``rounds`` (continual only) defaults to 3."""
    if name not in SCENARIOS:
        raise ParameterError("scenario", f"unknown scenario {name!r}; available: {', '.join(SCENARIOS)}")
    if name == "temporal" and get_task(direction).query != "video":
        raise ParameterError(
            "direction", f"the temporal scenario needs video queries (v2a, v2t), got {direction!r}"
        )
    if name != "temporal" and direction not in ("i2t", "t2i"):
        raise ParameterError("direction", f"a {name} scenario needs direction i2t or t2i, got {direction!r}")
    if rounds is not None and name != "continual":
        raise ParameterError("rounds", f"rounds apply to the continual scenario only, not {name!r}")
    if rounds is not None and rounds < 1:
        raise ParameterError("rounds", f"rounds must be >= 1, got {rounds}")
    if probe_every < 1:
        raise ParameterError("probe_every", f"the probe interval must be >= 1 batch, got {probe_every}")
    if name == "continual":
        return Scenario(name, direction, DEFAULT_ROUNDS if rounds is None else rounds, probe_every)
    return Scenario(name, direction, 1, probe_every)


def run_method(
    encoder: RetrievalModel,
    data: RetrievalDataset,
    direction: str,
    method: str,
    batches: Iterable[Any],
    gallery: Any,
    *,
    hparams: dict[str, Any],
    reset: ResetPolicy,
    total: int,
    progress: str,
) -> tuple[StreamResult, Adapter]:
    """Run ``method`` over prepared ``batches`` and return the stream result and the adapter.

    The adapter comes back (reset to the source weights) for what it measured along the way,
    such as tcr-gd's gradient angles; :func:`qshift.evaluate` keeps it to itself.
    """
    from qshift.api import default_hparams
    from qshift.engine import run_stream
    from qshift.gallery import Gallery
    from qshift.methods import build

    settings = {**default_hparams(encoder, data, method, direction), **hparams}
    adapter = build(
        method, encoder.query_tower(direction), Gallery(gallery, device=encoder.device), **settings
    )
    groups = data.groups[get_task(direction).gallery]
    try:
        result = run_stream(
            adapter, batches, groups, reset=reset, geometry_before=False, progress=progress, total=total
        )
    finally:
        adapter.reset()
    return result, adapter


def _weighted_r1(records: Sequence[BatchRecord]) -> float | None:
    """R@1 over the queries of ``records`` (batch R@1 weighted by batch size)."""
    size = sum(r.size for r in records)
    return round(sum(r.r1 * r.size for r in records) / size, 4) if size else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def scenario_fields(chosen: Scenario, result: StreamResult, adapter: Adapter) -> dict[str, Any]:
    """The measured part of a scenario row: overall, per-segment, per-round, probe and series."""
    adapted = [r for r in result.batches if not r.probe]
    segments: dict[str, list[BatchRecord]] = {}
    for record in adapted:
        segments.setdefault(record.label, []).append(record)
    probe = result.probe_metrics["r1"] if result.probe_metrics else None
    source = result.probe_source_metrics["r1"] if result.probe_source_metrics else None
    row: dict[str, Any] = {
        **{k: round(result.metrics[k], 4) for k in ("r1", "r5", "r10", "r_mean", "map")},
        "queries": result.queries,
        "seconds": round(result.seconds, 3),
        "segments": {label: _weighted_r1(records) for label, records in segments.items()},
        "probe_r1": _round(probe),
        "source_probe_r1": _round(source),
        "forgetting": _round(source - probe) if probe is not None and source is not None else None,
        "drift_resets": result.drift_resets,
        "series": [
            {
                "i": i,
                "label": r.label,
                "r1": round(r.r1, 4),
                "probe": r.probe,
                **({"source_r1": round(r.source_r1, 4)} if r.source_r1 is not None else {}),
            }
            for i, r in enumerate(result.batches)
        ],
    }
    if chosen.name == "continual":
        per_round = len(adapted) // chosen.rounds
        rounds = [_weighted_r1(adapted[k * per_round : (k + 1) * per_round]) for k in range(chosen.rounds)]
        row.update(round_r1=rounds, first_round_r1=rounds[0], last_round_r1=rounds[-1])
    angle_stats = getattr(adapter, "angle_stats", None)
    if callable(angle_stats):
        stats = angle_stats()
        row["angle_stats"] = (
            {k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}
            if stats["steps_measured"]
            else None
        )
        row["angles"] = [round(a, 2) for a in adapter.angles]
    return row


def variant_label(method: str, hparams: dict[str, Any], reset: ResetPolicy) -> str:
    """Table label of a run: the method, then its non-default settings (``tcr reset=drift``)."""
    parts = [
        method,
        *(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in sorted(hparams.items())),
    ]
    if reset != "continual":
        parts.append(f"reset={reset}")
    return " ".join(parts)


def run_scenario(
    model: RetrievalModel | str,
    dataset: RetrievalDataset | str,
    chosen: Scenario,
    methods: list[str],
    seeds: list[int],
    out: Path,
    *,
    batch_size: int = 64,
    hparams: dict[str, Any] | None = None,
    reset: ResetPolicy = "continual",
    queries: int | None = SCENARIO_QUERIES,
    workers: int = 2,
) -> list[dict[str, Any]]:
    """Run every missing (method, seed) of ``chosen``, append rows, then write tables and plots.

    ``queries`` is the size of the fixed query subset (None: all queries; the gallery stays
    whole). Returns the scenario rows of ``out/results.jsonl``.
    """
    from qshift import distributed
    from qshift.api import embed_gallery
    from qshift.bench.matrix import materialise, method_hparams, open_run, query_data, query_subset
    from qshift.data.queries import QueryBatches
    from qshift.engine import reset_interval

    reset_interval(reset)  # a bad policy fails before any work
    hp = hparams or {}
    store, hp_key, encoder, full, model, dataset = open_run(model, dataset, hp, out)
    direction = chosen.direction
    total = full.count(get_task(direction).query)
    data = query_data(full, direction, query_subset(total, queries))
    shift = chosen.label if reset == "continual" else f"{chosen.label} reset={reset}"

    def key(method: str, seed: int) -> dict[str, Any]:
        return cell(model, dataset, direction, shift, method, seed, hp_key)

    todo = [seed for seed in seeds if not all(store.has(key(m, seed)) for m in methods)]
    if len(todo) < len(seeds):
        print(f"resuming: {len(seeds) - len(todo)} finished seeds of {shift} {direction} in {store.path}")
    gallery = None
    for seed in tqdm(todo, desc=f"{shift} {direction}", unit="seed"):
        stream = QueryBatches(encoder, data, direction, seed=seed, workers=workers)
        plan = chosen.plan(stream.num_queries, batch_size, seed)
        batches = materialise(stream.iterate(plan), len(plan))
        if gallery is None:
            gallery = embed_gallery(encoder, data, direction, workers)
        for method in methods:
            if store.has(key(method, seed)):
                continue
            settings = method_hparams(method, hp)
            result, adapter = run_method(
                encoder,
                data,
                direction,
                method,
                batches if batches is not None else distributed.prepared_batches(stream, plan),
                gallery,
                hparams=settings,
                reset=reset,
                total=len(plan),
                progress=f"{method} {shift}",
            )
            row = {
                **key(method, seed),
                "scenario": chosen.name,
                "stream": chosen.label,
                "rounds": chosen.rounds,
                "probe_every": chosen.probe_every,
                "reset": reset,
                "variant": variant_label(method, settings, reset),
                "batch_size": batch_size,
                **scenario_fields(chosen, result, adapter),
            }
            if is_main():  # under torchrun only rank 0 writes
                store.append(row)
    rows = [r for r in store.rows if "stream" in r]
    if rows and is_main():
        write_scenario_outputs(rows, out)
    return rows


def write_scenario_outputs(rows: Sequence[dict[str, Any]], out: Path) -> None:
    """``scenarios.md`` and, per stream and direction, the R@1-over-stream and angle plots."""
    from qshift.results import plot_angles, plot_stream, scenario_groups, write_scenario_tables

    write_scenario_tables(rows, out)
    for (stream, direction), group in scenario_groups(rows).items():
        slug = stream.replace("×", "x")
        plot_stream(group, out / f"stream-{slug}-{direction}.png")
        if any(r.get("angles") for r in group):
            plot_angles(group, out / f"angles-{slug}-{direction}.png")
