"""Run many (method, hyper-parameters) specs on the same cached val streams; one JSON row each.

Per direction the gallery is embedded once; per shift the query batches are prepared once and
shared by every spec (what ``qshift bench`` does per invocation, here across lr values too).
Rows already in ``--out`` are skipped, so a killed grid resumes.

    python research/headroom/grid.py --direction i2t --shifts gaussian_noise@5,fog@5 \
        --queries 500 --spec source --spec "tcr:lr=1e-3" --out runs/grid/i2t.jsonl

A spec is ``method`` or ``method:key=value;key=value`` (values parsed as JSON when they can
be, e.g. ``lr=1e-3``, ``post=["recenter",["qbnorm",{"beta":10}]]``). ``--stats`` is passed to
every spec as ``stats`` (clean-query statistics; ``{direction}`` in the path is replaced).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qshift
from qshift.api import embed_gallery, evaluate
from qshift.bench import materialise, query_data, query_subset
from qshift.data.queries import QueryBatches
from qshift.methods.source_stats import SourceStats
from qshift.shifts import streams
from qshift.shifts.spec import ShiftSpec, parse_shift


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"tcr:lr=1e-3;steps=1"`` → ("tcr", {"lr": 0.001, "steps": 1})."""
    method, _, rest = spec.partition(":")
    hparams: dict[str, Any] = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        try:
            hparams[key] = json.loads(value)
        except json.JSONDecodeError:
            hparams[key] = value
    return method, hparams


def row_key(row: dict[str, Any]) -> tuple:
    return (row["direction"], row["shift"], row["seed"], row["queries"], row["spec"])


def shift_batches(encoder: Any, data: Any, direction: str, shift: ShiftSpec, seed: int) -> list:
    """The prepared query batches of one shifted val stream, shared by every spec."""
    queries = QueryBatches(encoder, data, direction, seed=seed)
    plan = streams.single(queries.num_queries, shift, 64, seed)
    return materialise(queries.iterate(plan), len(plan))


def run_spec(
    encoder: Any,
    data: Any,
    direction: str,
    shift: ShiftSpec,
    spec: str,
    args: argparse.Namespace,
    stats: SourceStats,
    gallery: Any,
    batches: list,
    label: str | None = None,
) -> dict[str, Any]:
    """Evaluate one spec on prepared batches and append its row to ``args.out`` (labelled
    ``label``, the spec by default)."""
    method, hparams = parse_spec(spec)
    start = time.perf_counter()
    result = evaluate(
        encoder,
        data,
        direction,
        str(shift),
        method,
        seed=args.seed,
        hparams={"stats": stats, **hparams},
        gallery=gallery,
        batches=batches,
        geometry=False,
    )
    row = {
        "direction": direction,
        "shift": str(shift),
        "seed": args.seed,
        "queries": args.queries,
        "spec": label or spec,
        **{k: round(v, 3) for k, v in result.metrics.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }
    with args.out.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(f"{row['shift']:22s} {row['spec']:60s} r1 {row['r1']:5.1f}  ({row['seconds']} s)", flush=True)
    return row


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every grid over cached val streams takes."""
    parser.add_argument("--model", default="scenes")
    parser.add_argument("--dataset", default="scenes:val")
    parser.add_argument("--direction", choices=("i2t", "t2i"), default="i2t")
    parser.add_argument("--shifts", required=True)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spec", action="append", required=True)
    parser.add_argument("--stats", default="runs/stats/scenes-train-{direction}.safetensors")
    parser.add_argument("--out", type=Path, required=True)


def run_grid(
    args: argparse.Namespace,
    suffix: str = "",
    prepare: Callable[[Any, SourceStats], None] | None = None,
) -> None:
    """Every ``--spec`` on every ``--shifts`` stream not yet in ``--out``; rows are labelled
    spec + ``suffix``. ``prepare(encoder, stats)`` runs once on the loaded encoder first (e.g.
    to install hooks)."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if args.out.exists():
        done = {row_key(json.loads(line)) for line in args.out.read_text().splitlines() if line.strip()}
    encoder = qshift.load_encoder(args.model)
    full = qshift.load_dataset(args.dataset)
    total = full.num_images if args.direction == "i2t" else full.num_texts
    data = query_data(full, args.direction, query_subset(total, args.queries))
    stats = SourceStats.load(args.stats.format(direction=args.direction))
    if prepare is not None:
        prepare(encoder, stats)
    gallery = None
    for shift in args.shifts.split(","):
        spec_shift = parse_shift(shift)
        todo = [
            s
            for s in args.spec
            if (args.direction, str(spec_shift), args.seed, args.queries, s + suffix) not in done
        ]
        if not todo:
            continue
        if gallery is None:
            gallery = embed_gallery(encoder, data, args.direction)
        batches = shift_batches(encoder, data, args.direction, spec_shift, args.seed)
        for spec in todo:
            run_spec(
                encoder,
                data,
                args.direction,
                spec_shift,
                spec,
                args,
                stats,
                gallery,
                batches,
                label=spec + suffix,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_arguments(parser)
    run_grid(parser.parse_args())


if __name__ == "__main__":
    main()
