"""The bench matrix: shifts × methods × seeds, resumable, with tables and plots.

Each (task, shift, seed) prepares its query batches once and runs every method on the
same batches. Finished cells are appended to ``results.jsonl`` as they complete, so a killed
bench continues where it stopped; ``table.md``, ``table.csv`` and the plots are rewritten from
all rows at the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from qshift.bench.headroom import ORACLE_MODES, oracle_rows
from qshift.bench.suites import Cells
from qshift.data.base import RetrievalDataset
from qshift.distributed import is_main
from qshift.encoders.base import RetrievalModel, batch_bytes
from qshift.results import ResultStore, cell, plot_bars, plot_geometry, write_tables
from qshift.shifts.spec import ShiftSpec
from qshift.tasks import get_task


def query_subset(num_queries: int, size: int | None, seed: int = 0) -> np.ndarray | None:
    """A fixed random subset of queries (independent of the stream seed); None keeps them all."""
    if size is None or size >= num_queries:
        return None
    return np.sort(np.random.default_rng(seed).choice(num_queries, size=size, replace=False))


def query_data(full: RetrievalDataset, direction: str, subset: np.ndarray | None) -> RetrievalDataset:
    """``full`` with only the ``subset`` queries of task ``direction`` (the gallery stays whole)."""
    if subset is None:
        return full
    return full.subset(get_task(direction).query, subset)


def query_counts(
    queries: dict[str, int] | None, t2i_queries: int | None = None, i2t_queries: int | None = None
) -> dict[str, int]:
    """Queries per run by task, the two image–text shorthands merged in."""
    counts = dict(queries or {})
    for task, count in (("t2i", t2i_queries), ("i2t", i2t_queries)):
        if count is not None:
            counts[task] = count
    return counts


def open_run(
    model: RetrievalModel | str, dataset: RetrievalDataset | str, hparams: dict[str, Any], out: Path
) -> tuple[ResultStore, str | None, RetrievalModel, RetrievalDataset, str, str]:
    """What every bench run starts from: the result store in ``out``, the hyper-parameter key,
    the loaded encoder and dataset, and the names its rows record (spec or object name)."""
    from qshift.api import resolve

    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out / "results.jsonl")
    hp_key = json.dumps(hparams, sort_keys=True) if hparams else None
    encoder, full = resolve(model, dataset)
    model_name = model if isinstance(model, str) else encoder.name
    dataset_name = dataset if isinstance(dataset, str) else full.name
    return store, hp_key, encoder, full, model_name, dataset_name


def run_bench(
    model: RetrievalModel | str,
    dataset: RetrievalDataset | str,
    cells: Cells,
    methods: list[str],
    seeds: list[int],
    out: Path,
    *,
    batch_size: int = 64,
    hparams: dict[str, Any] | None = None,
    queries: dict[str, int] | None = None,
    t2i_queries: int | None = None,
    i2t_queries: int | None = None,
    workers: int = 2,
    plots: bool = True,
    oracle: bool = False,
    oracle_modes: Sequence[str] = ("heldout", "transductive"),
) -> list[dict[str, Any]]:
    """Run every missing cell, append it to ``out/results.jsonl``, then write tables and plots.

    ``model`` and ``dataset`` are specs or loaded objects; rows record the spec (or the
    object's name). ``queries`` caps the queries per run by task (a fixed subset; the gallery
    stays whole); ``t2i_queries`` / ``i2t_queries`` are shorthands for two of its entries.
    ``oracle`` adds the held-out and transductive oracle rows of every cell (upper bounds that
    read the true matches; the tables then give each method's share of the headroom);
    ``oracle_modes`` runs only some of them (a held-out ceiling is the one the shares need).
    """
    from qshift.api import embed_gallery, evaluate
    from qshift.data.queries import QueryBatches
    from qshift.shifts import streams

    hp = hparams or {}
    store, hp_key, encoder, full, model, dataset = open_run(model, dataset, hp, out)
    counts = query_counts(queries, t2i_queries, i2t_queries)

    def key(direction: str, spec: ShiftSpec, method: str, seed: int) -> dict[str, Any]:
        return cell(model, dataset, direction, str(spec), method, seed, hp_key)

    unknown = set(oracle_modes) - {mode for _, mode in ORACLE_MODES}
    if unknown:
        raise ValueError(f"unknown oracle modes {sorted(unknown)}; modes: heldout, transductive")
    oracles = [name for name, mode in ORACLE_MODES if oracle and mode in oracle_modes]
    names = [*methods, *oracles]
    todo = [
        (direction, spec, seed)
        for direction, spec in cells
        for seed in seeds
        if not all(store.has(key(direction, spec, m, seed)) for m in names)
    ]
    skipped = len(cells) * len(seeds) - len(todo)
    if skipped:
        print(f"resuming: {skipped} finished (shift, seed) groups in {store.path}")
    galleries: dict[str, Any] = {}
    for direction, spec, seed in tqdm(todo, desc="bench", unit="shift"):
        task = get_task(direction)
        data = query_data(full, direction, query_subset(full.count(task.query), counts.get(task.name)))
        if direction not in galleries:
            galleries[direction] = embed_gallery(encoder, data, direction, workers)
        stream = QueryBatches(encoder, data, direction, seed=seed, workers=workers)
        plan = streams.single(stream.num_queries, spec, batch_size, seed)
        batches = materialise(stream.iterate(plan), len(plan))
        for method in methods:
            if store.has(key(direction, spec, method, seed)):
                continue
            result = evaluate(
                encoder,
                data,
                direction,
                str(spec),
                method,
                batch_size=batch_size,
                seed=seed,
                hparams=method_hparams(method, hp),
                gallery=galleries[direction],
                batches=batches,
                workers=workers,
                progress=f"{method} {spec}",
            )
            row = {**result.to_json(), **key(direction, spec, method, seed), "batch_size": batch_size}
            if is_main():  # under torchrun only rank 0 writes
                store.append(row)
        missing = tuple(name for name in oracles if not store.has(key(direction, spec, name, seed)))
        if missing:
            found = oracle_rows(
                encoder, data, direction, str(spec), seed, galleries[direction], batch_size=batch_size,
                workers=workers, missing=missing,
            )  # fmt: skip
            for row in found:
                if is_main():
                    store.append(
                        {**row, **key(direction, spec, row["method"], seed), "batch_size": batch_size}
                    )
    rows = store.rows
    if rows and is_main():
        write_tables(rows, out)
        if plots:
            plot_bars(rows, out / "bars.png")
            plot_geometry(rows, out / "geometry.png")
    return rows


def materialise(batches: Any, count: int, budget_bytes: int = 2 << 30) -> list | None:
    """All prepared batches in memory when they fit ``budget_bytes`` (shared by the methods)."""
    out = []
    for item in batches:
        out.append(item)
        if batch_bytes(item[1]) * count > budget_bytes:
            return None
    return out


def method_hparams(method: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """The subset of bench-wide hyper-parameters that ``method`` accepts."""
    from qshift.methods import hparam_names

    accepted = hparam_names(method)
    return {k: v for k, v in hparams.items() if k in accepted}
