#!/usr/bin/env bash
# Every table of docs/results-av.md for the shipped scenes-av model, one process at a time at
# nice 15 with one torch thread, resumable (every bench call skips its finished cells: rerun the
# script after a kill). Usage: bash scripts/av_results.sh [OUT_DIR] [VIDEO_QUERIES]
#   1. the source model on all 1,000 test clips: clean both ways, and a2v at every severity of
#      the six audio shifts;
#   2. every method, seed by seed (0, then 1, then 2): the audio suite (a2v) on all 1,000 clips,
#      the video suite (v2a) on a fixed subset of VIDEO_QUERIES clips (default 384; the gallery
#      stays whole), with the supervised headroom oracle on seed 0 (audio: held-out and
#      transductive; video: held-out), and clean queries both ways (128 clips);
#   3. the temporal scenario (v2a clips drifting clean → noise → blur), every method, 3 seeds,
#      and the held-out oracle on four video cells at smaller lrs;
#   4. tables of R@1 over the 3 seeds for every folder, and the seed-0 R@1 table with the oracle
#      rows and each method's share of the headroom.
set -euo pipefail
out=${1:-runs/results-av}
queries=${2:-384}
export OMP_NUM_THREADS=1
methods=source,tent,eata,sar,read,deyo,shot,tcr,tcr-free,tcr-gd,recenter,qbnorm,dbnorm,align,qshift
bench() { nice -n 15 qshift bench --workers 1 --model scenes-av --dataset scenes-av "$@"; }

bench --shifts none --direction a2v --methods source --out "$out/source-full/clean"
bench --shifts none --direction v2a --methods source --out "$out/source-full/clean"
severities=$(for n in gaussian_noise traffic crowd rain thunder wind; do printf '%s@1,%s@2,%s@3,%s@4,%s@5,' $n $n $n $n $n; done)
bench --shifts "${severities%,}" --direction a2v --methods source --out "$out/source-full/audio-severity"

for seed in 0 1 2; do
  oracle=$([ "$seed" = 0 ] && echo --oracle || echo --no-oracle)
  bench --suite scenes-av-audio --methods "$methods" --seeds "$seed" $oracle --out "$out/audio"
  bench --suite scenes-av-video --methods "$methods" --seeds "$seed" --queries "$queries" $oracle \
    --oracle-modes heldout --out "$out/video"
  for direction in a2v v2a; do
    bench --shifts none --direction "$direction" --methods "$methods" --seeds "$seed" --queries 128 \
      --out "$out/clean-$direction"
  done
done
bench --scenario temporal --direction v2a --methods "$methods" --seeds 0,1,2 --queries 128 --out "$out/temporal"
bench --scenario temporal --direction v2a --methods qshift --hparam post=null --seeds 0,1,2 --queries 128 \
  --out "$out/temporal"
# the held-out oracle on video queries at smaller lrs than the bench's 1e-2 (chosen on scenes images)
python - "$queries" <<'PY'
import sys

import qshift
from qshift.bench import query_data, query_subset
from qshift.bench.oracle import oracle

data = query_data(qshift.load_dataset("scenes-av"), "v2a", query_subset(1000, int(sys.argv[1])))
for shift in ("defocus_blur@5", "jpeg_compression@5", "gaussian_noise@5", "fog@5"):
    for lr in (1e-3, 3e-4):
        r = oracle("scenes-av", data, "v2a", shift, mode="heldout", lr=lr, seed=0, workers=1)
        print(f"{shift} lr {lr:g}: held-out oracle R@1 {r.metrics['r1']:.1f} (source {r.source_metrics['r1']:.1f})")
PY

python "$(dirname "$0")/seed_tables.py" "$out" r1
