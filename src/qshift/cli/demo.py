"""``qshift demo``: the embedded default in a few CPU minutes (source vs baseline vs TCR)."""

from __future__ import annotations

import argparse
from pathlib import Path

from qshift.cli.common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "demo", cmd_demo)
    parser.add_argument("--out", type=Path, default=Path("qshift-demo"), help="output directory")
    parser.add_argument("--workers", type=int, default=2)


def cmd_demo(args: argparse.Namespace) -> int:
    from qshift.demo import demo_report, run_demo

    print(demo_report(run_demo(args.out, args.workers), args.out))
    return 0
