"""Clean-query statistics of the scenes model for the val research: taken on the TRAIN split.

The val streams are shifted copies of val queries, so their statistics come from other images:
2,000 train images (i2t) and 2,000 train captions (t2i), seeded subsets.

    python research/headroom/make_stats.py --out runs/stats
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import qshift
from qshift.stats import compute_source_stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/stats"))
    parser.add_argument("--split", default="train")
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    encoder = qshift.load_encoder("scenes")
    dataset = qshift.load_dataset(f"scenes:{args.split}")
    for direction in ("i2t", "t2i"):
        start = time.perf_counter()
        stats = compute_source_stats(encoder, dataset, direction, queries=args.queries)
        path = stats.save(args.out / f"scenes-{args.split}-{direction}.safetensors")
        print(
            f"{path}: {len(stats.layers)} layers, {stats.queries} queries, "
            f"{time.perf_counter() - start:.0f} s"
        )


if __name__ == "__main__":
    main()
