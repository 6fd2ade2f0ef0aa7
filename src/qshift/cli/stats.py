"""``qshift stats``: the clean-query statistics of a model's query tower, for the methods that use them.

``recenter``, ``align`` and the other source-statistics methods compare the shifted stream
with these statistics; they are a few KB stored beside the model's weights (or inside its
checkpoint directory), where ``qshift run`` and ``qshift bench`` find them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qshift.cli.common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "stats", cmd_stats)
    parser.add_argument("--model", required=True, help="encoder spec: scenes, hf:<dir>, …")
    parser.add_argument(
        "--dataset",
        required=True,
        help="clean queries from a split the evaluation does not use, e.g. scenes:train",
    )
    parser.add_argument("--direction", required=True, help="the task whose query tower is described (i2t, …)")
    parser.add_argument("--queries", type=int, default=None, help="a seeded subset of that many queries")
    parser.add_argument("--seed", type=int, default=0, help="order of the clean stream (and of the subset)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=None, help="statistics file (default: beside the model's weights)"
    )


def cmd_stats(args: argparse.Namespace) -> int:
    from qshift.api import resolve
    from qshift.encoders.base import stats_file
    from qshift.errors import UsageError
    from qshift.stats import compute_source_stats
    from qshift.tasks import get_task

    task = get_task(args.direction).name
    encoder, dataset = resolve(args.model, args.dataset)
    out = args.out
    if out is None:
        if encoder.stats_anchor is None:
            raise UsageError(
                f"--out is needed: {args.model} has no weights file or directory to store them beside"
            )
        out = stats_file(encoder.stats_anchor, task)
    stats = compute_source_stats(
        encoder,
        dataset,
        task,
        queries=args.queries,
        batch_size=args.batch_size,
        seed=args.seed,
        workers=args.workers,
    )
    path = stats.save(out)
    print(f"wrote {path}: {len(stats.layers)} normalisation layers over {stats.queries} clean {task} queries")
    return 0
