"""``qshift reproduce``: the paper's COCO-C tables on your own weights, beside the published ones.

Runs the COCO-C query-shift matrix (i2t: the 16 image corruptions at severity 5; t2i: the 15
paper text shifts) with ``qshift bench`` machinery (resumable ``results.jsonl``, tables,
plots), then prints each method's average R@1 next to the numbers published in the TCR paper
(method.md §4). Shifts are applied on the fly with the same functions ``qshift shift`` uses to
write COCO-C copies.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from qshift.cli import UsageError

#: average R@1 published in Li et al., ICLR 2025 (method.md §4), by backbone and direction
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "blip-b": {
        "i2t": {
            "source": 45.0,
            "tent": 43.0,
            "eata": 49.3,
            "sar": 46.0,
            "read": 46.9,
            "deyo": 48.2,
            "tcr": 59.1,
        },
        "t2i": {"source": 40.9, "best baseline": 41.5, "tcr": 42.3},
    },
    "blip-l": {"i2t": {"source": 51.8, "eata": 54.4, "tcr": 62.0}},
}
PAPER_METHODS = ["source", "tent", "eata", "sar", "read", "deyo", "tcr"]


def averages(rows: list[dict[str, Any]], direction: str) -> dict[str, float]:
    """Mean R@1 over shifts (and seeds) per method, for one direction."""
    per_method: dict[str, list[float]] = {}
    for row in rows:
        if row["direction"] == direction:
            per_method.setdefault(row["method"], []).append(row["r1"])
    return {m: statistics.fmean(v) for m, v in per_method.items()}


def comparison_table(rows: list[dict[str, Any]], published: str | None) -> str:
    """Markdown: per direction, our average R@1 per method beside the published one."""
    reference = PUBLISHED.get(published or "", {})
    parts = []
    for direction in ("i2t", "t2i"):
        ours = averages(rows, direction)
        if not ours:
            continue
        theirs = reference.get(direction, {})
        lines = [
            f"### COCO-C {direction}, average R@1",
            "",
            "| method | yours | published |",
            "|---|---|---|",
        ]
        for method, value in ours.items():
            paper = theirs.get(method)
            lines.append(f"| {method} | {value:.1f} | {'–' if paper is None else f'{paper:.1f}'} |")
        if "best baseline" in theirs:
            baselines = [v for m, v in ours.items() if m not in ("source", "tcr", "tcr-free")]
            best = f"{max(baselines):.1f}" if baselines else "–"
            lines.append(f"| best baseline | {best} | {theirs['best baseline']:.1f} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "reproduce", help="COCO-C i2t/t2i tables on your weights, beside the paper's numbers"
    )
    parser.add_argument("--model", required=True, help="e.g. hf:/models/blip-itm-base-coco")
    parser.add_argument("--dataset", required=True, help="e.g. coco:/data/coco (Karpathy test split)")
    parser.add_argument("--directions", default="i2t,t2i", help="i2t, t2i or both")
    parser.add_argument(
        "--published", default="blip-b", choices=[*PUBLISHED, "none"], help="numbers to print beside"
    )
    parser.add_argument("--methods", default=",".join(PAPER_METHODS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument(
        "--limit-shifts", type=int, default=None, help="first N shifts per direction (quick tries)"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    parser.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from qshift.bench import _image_cells, _text_cells, run_bench
    from qshift.methods import names

    directions = [d.strip() for d in args.directions.split(",") if d.strip()]
    if not directions or any(d not in ("i2t", "t2i") for d in directions):
        raise UsageError(f"--directions must be i2t, t2i or i2t,t2i; got {args.directions!r}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in names()]
    if unknown:
        raise UsageError(f"--methods: unknown method(s) {', '.join(unknown)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise UsageError(f"--seeds expects a comma list of integers, got {args.seeds!r}") from None
    cells: tuple = ()
    for direction in directions:
        chosen = _image_cells() if direction == "i2t" else _text_cells()
        cells += chosen[: args.limit_shifts] if args.limit_shifts else chosen
    rows = run_bench(args.model, args.dataset, cells, methods, seeds, args.out, workers=args.workers)
    table = comparison_table(rows, None if args.published == "none" else args.published)
    (args.out / "comparison.md").write_text(table)
    print(table)
    print(f"per-shift tables: {args.out / 'table.md'}; comparison: {args.out / 'comparison.md'}")
    return 0
