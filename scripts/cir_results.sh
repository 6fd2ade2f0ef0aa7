#!/usr/bin/env bash
# Every table of docs/results-cir.md for the shipped scenes-cir model, one process at a time at
# nice 15 with one torch thread, resumable (every bench call skips its finished cells: rerun the
# script after a kill). Usage: bash scripts/cir_results.sh [OUT_DIR] [QUERIES]
#   1. the source model on the whole test split (1,000 composed queries): clean, the 16 reference
#      corruptions and the 15 modification shifts;
#   2. every method on a fixed subset of QUERIES queries (default 128; the gallery stays whole),
#      seed by seed (0, then 1, then 2), the reference suite before the text suite, with the
#      supervised headroom oracle (held-out and transductive) on seed 0;
#   3. tables of R@1, R@50, Recall_subset@1 and mAP@10 over the 3 seeds for every folder, and
#      the seed-0 R@1 table with the oracle rows and each method's share of the headroom.
set -euo pipefail
out=${1:-runs/results-cir}
queries=${2:-128}
export OMP_NUM_THREADS=1
methods=source,tent,eata,sar,read,deyo,shot,tcr,tcr-free,tcr-gd,recenter,qbnorm,dbnorm,align,qshift
bench() { nice -n 15 qshift bench --model scenes-cir --dataset scenes-cir "$@"; }

bench --shifts none --direction cir --methods source --out "$out/source-full/clean"
bench --suite scenes-cir-image --methods source --out "$out/source-full/image"
bench --suite scenes-cir-text --methods source --out "$out/source-full/text"

for seed in 0 1 2; do
  oracle=$([ "$seed" = 0 ] && echo --oracle || echo --no-oracle)
  bench --suite scenes-cir-image --methods "$methods" --seeds "$seed" --queries "$queries" $oracle --out "$out/image"
  bench --suite scenes-cir-text --methods "$methods" --seeds "$seed" --queries "$queries" $oracle --out "$out/text"
  bench --shifts none --direction cir --methods "$methods" --seeds "$seed" --queries "$queries" --out "$out/clean"
done

python - "$out" <<'EOF'
import json, sys
from pathlib import Path
from qshift.results import markdown_table
from qshift.results.tables import ORACLES

for results in sorted(Path(sys.argv[1]).rglob("results.jsonl")):
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    methods = [r for r in rows if r["method"] not in ORACLES]
    tables = [markdown_table(methods, metric) for metric in ("r1", "r50", "rsub1", "map@10")]
    if len(methods) < len(rows):
        seed0 = markdown_table([r for r in rows if r["seed"] == 0])
        tables.append(f"Seed 0 with the oracle rows:\n\n{seed0}")
    (results.parent / "tables.md").write_text("\n".join(tables))
    print(f"tables: {results.parent / 'tables.md'}")
EOF
