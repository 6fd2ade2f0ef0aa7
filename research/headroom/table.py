"""Markdown tables from grid rows: R@1 per shift and the average, one row per spec.

    python research/headroom/table.py runs/grid/i2t-lr.jsonl [--best-lr]

``--best-lr`` adds, per method, the lr with the best average (ties: the smaller lr).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=Path, nargs="+")
    parser.add_argument("--best-lr", action="store_true")
    parser.add_argument("--metric", default="r1")
    args = parser.parse_args()
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for path in args.rows:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            table[row["spec"]][row["shift"]] = row[args.metric]
    shifts = sorted({s for row in table.values() for s in row})
    print("| spec | " + " | ".join(s.split("@")[0] for s in shifts) + " | avg |")
    print("|---" * (len(shifts) + 2) + "|")
    averages = {}
    for spec, row in table.items():
        values = [row.get(s, float("nan")) for s in shifts]
        averages[spec] = float(np.mean(values))
        print(f"| {spec} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {averages[spec]:.2f} |")
    if args.best_lr:
        best: dict[str, tuple[float, str]] = {}
        for spec, avg in averages.items():
            method, _, rest = spec.partition(":")
            if not rest.startswith("lr=") or "," in rest or np.isnan(avg):
                continue
            lr = rest[3:]
            if method not in best or avg > best[method][0] + 1e-9:
                best[method] = (avg, lr)
        print("\n| method | best lr | avg |\n|---|---|---|")
        for method, (avg, lr) in best.items():
            print(f"| {method} | {lr} | {avg:.2f} |")


if __name__ == "__main__":
    main()
