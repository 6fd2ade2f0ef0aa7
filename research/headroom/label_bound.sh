#!/usr/bin/env bash
# TCR and qshift with true-match refinement candidates against themselves on VAL, on the eight
# full-length streams of design3.sh (all 1,000 val images, stream seed 0): what pseudo-label
# errors cost each method, and what its update rule reaches with perfect labels, at its own
# budget (lr, 3 steps per batch) and at a larger one; and the oracle's supervised loss at that
# budget (one online pass). Resumable.
# Usage: bash research/headroom/label_bound.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/i2t-labels.jsonl}
shifts=gaussian_noise@5,defocus_blur@5,motion_blur@5,zoom_blur@5,snow@5,fog@5,brightness@5,jpeg_compression@5
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PYTHONPATH=research/headroom${PYTHONPATH:+:$PYTHONPATH} python research/headroom/label_bound.py \
  --direction i2t --shifts "$shifts" \
  --stats src/qshift/scenes/assets/scenes_source.stats-i2t.safetensors \
  --spec source --spec tcr --spec "tcr-truelabels:lr=3e-3" --spec "tcr-truelabels:lr=1e-2" \
  --spec "qshift:post=[\"recenter\",[\"qbnorm\",{\"beta\":10}]]" \
  --spec "qshift-truelabels:lr=3e-3;post=[\"recenter\",[\"qbnorm\",{\"beta\":10}]]" \
  --spec "qshift-truelabels:lr=3e-3;steps=10;post=[\"recenter\",[\"qbnorm\",{\"beta\":10}]]" \
  --spec "online-oracle:lr=3e-3" --spec "online-oracle:lr=1e-2" \
  --out "$out"
