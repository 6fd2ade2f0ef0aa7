"""``qshift bench``: a matrix of shifts × methods × seeds, resumable, with tables and plots.

Each (direction, shift, seed) prepares its query batches once and runs every method on the
same batches. Finished cells are appended to ``results.jsonl`` as they complete, so a killed
bench continues where it stopped; ``table.md``, ``table.csv`` and the plots are rewritten from
all rows at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from qshift import registry
from qshift.data.base import RetrievalDataset
from qshift.distributed import is_main
from qshift.encoders.base import DualEncoder
from qshift.errors import ParameterError
from qshift.shifts.spec import ShiftSpec

IMAGE_SEVERITY = 5
TEXT_SEVERITY = 5
#: caption queries per t2i run on scenes: one per image keeps the full suite within an hour
SCENES_T2I_QUERIES = 1000


@dataclass(frozen=True)
class Suite:
    """A named benchmark matrix on one model and dataset."""

    model: str
    dataset: str
    cells: tuple[tuple[str, ShiftSpec], ...]  # (direction, shift)
    t2i_queries: int | None = None
    i2t_queries: int | None = None


def image_cells() -> tuple[tuple[str, ShiftSpec], ...]:
    from qshift.shifts import names

    return tuple(("i2t", ShiftSpec(n, IMAGE_SEVERITY)) for n in names("image"))


def text_cells() -> tuple[tuple[str, ShiftSpec], ...]:
    from qshift.shifts.text import PAPER_TEXT_SHIFTS

    return tuple(("t2i", ShiftSpec(n, TEXT_SEVERITY)) for n in PAPER_TEXT_SHIFTS)


def scenes_qs_image() -> Suite:
    """scenes i2t: the 16 image corruptions at severity 5."""
    return Suite("scenes", "scenes", image_cells())


def scenes_qs_text() -> Suite:
    """scenes t2i: the paper's 15 text shifts at severity 5, on 1,000 caption queries."""
    return Suite("scenes", "scenes", text_cells(), SCENES_T2I_QUERIES)


def scenes_qs() -> Suite:
    """Both scenes suites in one matrix."""
    return Suite("scenes", "scenes", image_cells() + text_cells(), SCENES_T2I_QUERIES)


def suite(name: str) -> Suite:
    """The registered suite ``name`` (``qshift list`` shows them)."""
    if name not in registry.names("suite"):
        raise ParameterError(
            "suite", f"unknown suite {name!r}; available: {', '.join(registry.names('suite'))}"
        )
    return registry.load("suite", name)()


def query_subset(num_queries: int, size: int | None, seed: int = 0) -> np.ndarray | None:
    """A fixed random subset of queries (independent of the stream seed); None keeps them all."""
    if size is None or size >= num_queries:
        return None
    return np.sort(np.random.default_rng(seed).choice(num_queries, size=size, replace=False))


def query_data(full: RetrievalDataset, direction: str, subset: np.ndarray | None) -> RetrievalDataset:
    """``full`` with only the ``subset`` queries of ``direction`` (the gallery stays whole)."""
    if subset is None:
        return full
    return full.subset_texts(subset) if direction == "t2i" else full.subset_images(subset)


def open_run(
    model: DualEncoder | str, dataset: RetrievalDataset | str, hparams: dict[str, Any], out: Path
) -> tuple[Any, str | None, DualEncoder, RetrievalDataset, str, str]:
    """What every bench run starts from: the result store in ``out``, the hyper-parameter key,
    the loaded encoder and dataset, and the names its rows record (spec or object name)."""
    from qshift.api import resolve
    from qshift.results import ResultStore

    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out / "results.jsonl")
    hp_key = json.dumps(hparams, sort_keys=True) if hparams else None
    encoder, full = resolve(model, dataset)
    model_name = model if isinstance(model, str) else encoder.name
    dataset_name = dataset if isinstance(dataset, str) else full.name
    return store, hp_key, encoder, full, model_name, dataset_name


def run_bench(
    model: DualEncoder | str,
    dataset: RetrievalDataset | str,
    cells: tuple[tuple[str, ShiftSpec], ...],
    methods: list[str],
    seeds: list[int],
    out: Path,
    *,
    batch_size: int = 64,
    hparams: dict[str, Any] | None = None,
    t2i_queries: int | None = None,
    i2t_queries: int | None = None,
    workers: int = 2,
    plots: bool = True,
) -> list[dict[str, Any]]:
    """Run every missing cell, append it to ``out/results.jsonl``, then write tables and plots.

    ``model`` and ``dataset`` are specs or loaded objects; rows record the spec (or the
    object's name).
    """
    from qshift.api import embed_gallery, evaluate
    from qshift.data.queries import QueryBatches
    from qshift.results import plot_bars, plot_geometry, write_tables
    from qshift.shifts import streams

    hp = hparams or {}
    store, hp_key, encoder, full, model, dataset = open_run(model, dataset, hp, out)
    subsets = {
        "t2i": query_subset(full.num_texts, t2i_queries),
        "i2t": query_subset(full.num_images, i2t_queries),
    }
    galleries: dict[str, Any] = {}
    todo = [
        (direction, spec, seed)
        for direction, spec in cells
        for seed in seeds
        if not all(store.has(_key(model, dataset, direction, spec, m, seed, hp_key)) for m in methods)
    ]
    skipped = len(cells) * len(seeds) - len(todo)
    if skipped:
        print(f"resuming: {skipped} finished (shift, seed) groups in {store.path}")
    for direction, spec, seed in tqdm(todo, desc="bench", unit="shift"):
        data = query_data(full, direction, subsets[direction])
        if direction not in galleries:
            galleries[direction] = embed_gallery(encoder, data, direction, workers)  # type: ignore[arg-type]
        queries = QueryBatches(encoder, data, direction, seed=seed, workers=workers)  # type: ignore[arg-type]
        plan = streams.single(queries.num_queries, spec, batch_size, seed)
        batches = materialise(queries.iterate(plan), len(plan))
        for method in methods:
            if store.has(_key(model, dataset, direction, spec, method, seed, hp_key)):
                continue
            result = evaluate(
                encoder,
                data,
                direction,
                str(spec),
                method,
                batch_size=batch_size,
                seed=seed,
                hparams=_method_hparams(method, hp),
                gallery=galleries[direction],
                batches=batches,
                workers=workers,
                progress=f"{method} {spec}",
            )
            row = result.to_json()
            row.update(model=model, dataset=dataset, seed=seed, hparams=hp_key, batch_size=batch_size)
            if is_main():  # under torchrun only rank 0 writes
                store.append(row)
    rows = store.rows
    if rows and is_main():
        write_tables(rows, out)
        if plots:
            plot_bars(rows, out / "bars.png")
            plot_geometry(rows, out / "geometry.png")
    return rows


def materialise(batches: Any, count: int, budget_bytes: int = 2 << 30) -> list | None:
    """All prepared batches in memory when they fit ``budget_bytes`` (shared by the methods)."""
    import torch

    out = []
    for item in batches:
        out.append(item)
        prepared = item[1]
        tensors = (
            [prepared]
            if isinstance(prepared, torch.Tensor)
            else [v for v in prepared.values() if isinstance(v, torch.Tensor)]
        )
        if sum(t.numel() * t.element_size() for t in tensors) * count > budget_bytes:
            return None
    return out


def _key(
    model: str, dataset: str, direction: str, spec: ShiftSpec, method: str, seed: int, hp: str | None
) -> dict:
    return {
        "model": model,
        "dataset": dataset,
        "direction": direction,
        "shift": str(spec),
        "method": method,
        "seed": seed,
        "hparams": hp,
    }


def _method_hparams(method: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """The subset of bench-wide hyper-parameters that ``method`` accepts."""
    from qshift.methods import hparam_names

    accepted = hparam_names(method)
    return {k: v for k, v in hparams.items() if k in accepted}
