"""Choose the oracle's settings on val: (lr, epochs, temperature) × mode on a few corruptions.

    python research/headroom/oracle_grid.py --shifts gaussian_noise@5,fog@5 \
        --setting 3e-3,10,0.05 --mode heldout --out runs/oracle/val.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import qshift
from qshift.api import embed_gallery
from qshift.bench import query_data, query_subset
from qshift.bench.oracle import oracle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scenes:val")
    parser.add_argument("--direction", choices=("i2t", "t2i"), default="i2t")
    parser.add_argument("--shifts", required=True)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", action="append", default=None)
    parser.add_argument("--setting", action="append", required=True, help="lr,epochs,temperature")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done.add((row["direction"], row["shift"], row["queries"], row["mode"], row["setting"]))
    encoder = qshift.load_encoder("scenes")
    full = qshift.load_dataset(args.dataset)
    total = full.num_images if args.direction == "i2t" else full.num_texts
    data = query_data(full, args.direction, query_subset(total, args.queries))
    gallery = None
    for shift in args.shifts.split(","):
        for mode in args.mode or ["heldout"]:
            for setting in args.setting:
                if (args.direction, shift, args.queries, mode, setting) in done:
                    continue
                if gallery is None:
                    gallery = embed_gallery(encoder, data, args.direction)
                lr, epochs, temperature = setting.split(",")
                start = time.perf_counter()
                result = oracle(
                    encoder,
                    data,
                    args.direction,
                    shift,
                    mode=mode,
                    lr=float(lr),
                    epochs=int(epochs),
                    temperature=float(temperature),
                    seed=args.seed,
                    gallery=gallery,
                )
                row = {
                    "direction": args.direction,
                    "shift": shift,
                    "queries": args.queries,
                    "mode": mode,
                    "setting": setting,
                    "r1": round(result.metrics["r1"], 2),
                    "source_r1": round(result.source_metrics["r1"], 2),
                    "folds": [
                        [round(f.source_metrics["r1"], 2), round(f.metrics["r1"], 2)] for f in result.folds
                    ],
                    "seconds": round(time.perf_counter() - start, 1),
                }
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
