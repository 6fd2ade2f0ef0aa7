#!/usr/bin/env bash
# Every table of docs/results-cir.md for the shipped scenes-cir model, one process at a time at
# nice 15 with one torch thread, resumable (every bench call skips its finished cells: rerun the
# script after a kill). Usage: bash scripts/cir_results.sh [OUT_DIR] [QUERIES]
#   1. the source model on the whole test split (1,000 composed queries): clean, the 16 reference
#      corruptions and the 15 modification shifts;
#   2. every method on a fixed subset of QUERIES queries (default 128; the gallery stays whole),
#      seed by seed (0, then 1, then 2), the reference suite before the text suite, with the
#      supervised headroom oracle (held-out and transductive) on seed 0;
#   3. on four cells, full-length streams (all 1,000 queries): source, TCR, qshift, held-out oracle,
#      and the held-out oracle at smaller lrs on two of them;
#   4. tables of R@1, R@50, Recall_subset@1 and mAP@10 over the 3 seeds for every folder, and
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
# full-length streams (all 1,000 queries, 16 updates) on four cells: source, TCR, qshift and the
# held-out oracle fitted on 500 queries
full=image:gaussian_noise@5,image:defocus_blur@5,text:ocr@5,text:formal@5
bench --shifts "$full" --direction cir --methods source,tcr,qshift --seeds 0 --oracle --oracle-modes heldout \
  --out "$out/full"
# the held-out oracle at smaller lrs than the bench's 1e-2 (chosen on scenes image queries)
python - <<'EOF'
from qshift.bench.oracle import oracle

for shift, lr in (("image:gaussian_noise@5", 1e-3), ("text:ocr@5", 1e-3), ("image:gaussian_noise@5", 3e-4)):
    r = oracle("scenes-cir", "scenes-cir", "cir", shift, mode="heldout", lr=lr, seed=0, workers=1)
    print(f"{shift} lr {lr}: held-out oracle R@1 {r.metrics['r1']:.1f} (source {r.source_metrics['r1']:.1f})")
EOF

python "$(dirname "$0")/seed_tables.py" "$out" r1 r50 rsub1 map@10
