"""``qshift bench``: a matrix of shifts × methods × seeds, resumable, with tables and plots.

Each (direction, shift, seed) prepares its query batches once and runs every method on the
same batches. Finished cells are appended to ``results.jsonl`` as they complete, so a killed
bench continues where it stopped; ``table.md``, ``table.csv`` and the plots are rewritten from
all rows at the end.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from qshift.cli import UsageError, parse_hparams
from qshift.data.base import RetrievalDataset
from qshift.distributed import is_main
from qshift.encoders.base import DualEncoder
from qshift.shifts.spec import ShiftSpec, parse_shift

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


def _image_cells() -> tuple[tuple[str, ShiftSpec], ...]:
    from qshift.shifts import names

    return tuple(("i2t", ShiftSpec(n, IMAGE_SEVERITY)) for n in names("image"))


def _text_cells() -> tuple[tuple[str, ShiftSpec], ...]:
    from qshift.shifts.text import PAPER_TEXT_SHIFTS

    return tuple(("t2i", ShiftSpec(n, TEXT_SEVERITY)) for n in PAPER_TEXT_SHIFTS)


def suite(name: str) -> Suite:
    """The named suite: scenes-qs-image, scenes-qs-text or scenes-qs (both)."""
    if name == "scenes-qs-image":
        return Suite("scenes", "scenes", _image_cells())
    if name == "scenes-qs-text":
        return Suite("scenes", "scenes", _text_cells(), SCENES_T2I_QUERIES)
    if name == "scenes-qs":
        return Suite("scenes", "scenes", _image_cells() + _text_cells(), SCENES_T2I_QUERIES)
    raise UsageError(
        f"--suite: unknown suite {name!r}; available: scenes-qs-image, scenes-qs-text, scenes-qs"
    )


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


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench", help="a resumable matrix of shifts × methods × seeds with tables and plots"
    )
    parser.add_argument("--suite", default=None, help="scenes-qs-image | scenes-qs-text | scenes-qs")
    parser.add_argument("--shifts", default=None, help="comma list NAME@SEV (instead of --suite)")
    parser.add_argument(
        "--scenario", default=None, help="diverse | continual | gradual: a long mixed stream with probes"
    )
    parser.add_argument(
        "--direction", choices=("i2t", "t2i"), default=None, help="direction for --shifts or --scenario"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds of --scenario continual (3)")
    parser.add_argument(
        "--probe-every", type=int, default=None, help="--scenario: a clean probe batch every n batches (4)"
    )
    parser.add_argument(
        "--reset", default=None, help="--scenario: continual (default), episodic, N, drift or drift:K"
    )
    parser.add_argument("--model", default="scenes")
    parser.add_argument("--dataset", default="scenes")
    parser.add_argument("--methods", default="all", help="comma list, or all")
    parser.add_argument("--seeds", default="0", help="comma list of stream seeds, e.g. 0,1,2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--t2i-queries", type=int, default=None, help="caption queries per t2i run (subset; --scenario: 256)"
    )
    parser.add_argument(
        "--i2t-queries", type=int, default=None, help="image queries per i2t run (subset; --scenario: 256)"
    )
    parser.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.set_defaults(func=cmd_bench)


def _methods_and_seeds(args: argparse.Namespace) -> tuple[list[str], list[int]]:
    """The checked --methods and --seeds lists."""
    from qshift.methods import names as method_names

    methods = (
        method_names() if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    )
    unknown = [m for m in methods if m not in method_names()]
    if unknown:
        raise UsageError(
            f"--methods: unknown method(s) {', '.join(unknown)}; available: {', '.join(method_names())}"
        )
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise UsageError(f"--seeds expects a comma list of integers, got {args.seeds!r}") from None
    return methods, seeds


def cmd_bench(args: argparse.Namespace) -> int:
    if sum(flag is not None for flag in (args.suite, args.shifts, args.scenario)) != 1:
        raise UsageError("give exactly one of --suite, --shifts or --scenario")
    methods, seeds = _methods_and_seeds(args)
    if args.scenario is not None:
        from qshift.scenarios import cmd_scenario

        return cmd_scenario(args, methods, seeds)
    for flag, value in (
        ("--rounds", args.rounds),
        ("--probe-every", args.probe_every),
        ("--reset", args.reset),
    ):
        if value is not None:
            raise UsageError(f"{flag} applies to --scenario runs only")
    t2i_queries, i2t_queries = args.t2i_queries, args.i2t_queries
    if args.suite is not None:
        chosen = suite(args.suite)
        model, dataset, cells = chosen.model, chosen.dataset, chosen.cells
        t2i_queries = t2i_queries if t2i_queries is not None else chosen.t2i_queries
        i2t_queries = i2t_queries if i2t_queries is not None else chosen.i2t_queries
    else:
        if args.direction is None:
            raise UsageError("--shifts needs --direction i2t or t2i")
        model, dataset = args.model, args.dataset
        cells = tuple((args.direction, parse_shift(s)) for s in args.shifts.split(",") if s.strip())
    rows = run_bench(
        model,
        dataset,
        cells,
        methods,
        seeds,
        args.out,
        batch_size=args.batch_size,
        hparams=parse_hparams(args.hparam),
        t2i_queries=t2i_queries,
        i2t_queries=i2t_queries,
        workers=args.workers,
    )
    from qshift.results import markdown_table

    if not is_main():
        return 0
    print(markdown_table(rows))
    print(
        f"results: {args.out / 'results.jsonl'}\ntables:  {args.out / 'table.md'}, {args.out / 'table.csv'}"
    )
    print(f"plots:   {args.out / 'bars.png'}, {args.out / 'geometry.png'}")
    return 0
