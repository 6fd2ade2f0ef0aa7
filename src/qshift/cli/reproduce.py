"""``qshift reproduce``: the paper's COCO-C tables on your weights, beside the published numbers."""

from __future__ import annotations

import argparse
from pathlib import Path

from qshift.cli.common import add_command, comma_list, parse_methods, parse_seeds


def register(sub: argparse._SubParsersAction) -> None:
    from qshift.reproduce import PAPER_METHODS, PUBLISHED

    parser = add_command(sub, "reproduce", cmd_reproduce)
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


def cmd_reproduce(args: argparse.Namespace) -> int:
    from qshift.reproduce import reproduce

    table = reproduce(
        args.model,
        args.dataset,
        args.out,
        directions=comma_list(args.directions),
        methods=parse_methods(args.methods),
        seeds=parse_seeds(args.seeds),
        published=None if args.published == "none" else args.published,
        limit_shifts=args.limit_shifts,
        workers=args.workers,
    )
    print(table)
    print(f"per-shift tables: {args.out / 'table.md'}; comparison: {args.out / 'comparison.md'}")
    return 0
