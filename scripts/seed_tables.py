"""Rewrite ``tables.md`` beside every ``results.jsonl`` under a folder: one table per metric over
all stream seeds (methods only), and the seed-0 R@1 table with the oracle rows and each method's
share of the headroom when the folder has oracle rows. The results scripts end with it.

    python scripts/seed_tables.py runs/results-cir r1 r50 rsub1 map@10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qshift.results import markdown_table
from qshift.results.tables import ORACLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("metrics", nargs="*", default=["r1"])
    args = parser.parse_args()
    for results in sorted(args.out.rglob("results.jsonl")):
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        methods = [r for r in rows if r["method"] not in ORACLES]
        tables = [markdown_table(methods, metric) for metric in args.metrics]
        if len(methods) < len(rows):
            seed0 = markdown_table([r for r in rows if r["seed"] == 0])
            tables.append(f"Seed 0 with the oracle rows:\n\n{seed0}")
        (results.parent / "tables.md").write_text("\n".join(tables))
        print(f"tables: {results.parent / 'tables.md'}")


if __name__ == "__main__":
    main()
