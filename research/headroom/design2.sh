#!/usr/bin/env bash
# Second design round on VAL (same cells as design.sh): TCR's candidates from the corrected
# scores, TCR's steps, and TCR at 1e-3 under the corrections.
set -euo pipefail
out=${1:-runs/grid/i2t-design.jsonl}
shifts=gaussian_noise@5,motion_blur@5,fog@5,brightness@5
post='["recenter",["qbnorm",{"beta":10}]]'
python research/headroom/grid.py --direction i2t --shifts "$shifts" --queries 500 \
  --spec "qshift:lr=3e-3;temperature=0.02;align_weight=0;corrected_candidates=true;post=$post" \
  --spec "qshift:lr=3e-3;temperature=0.02;align_weight=1;corrected_candidates=true;post=$post" \
  --spec "tcr:lr=1e-3;post=$post" \
  --spec "tcr:lr=3e-3;steps=5;post=$post" \
  --spec "tcr:lr=3e-3;post=\"recenter\"" \
  --out "$out"
