#!/usr/bin/env bash
# Second design round on VAL (same cells as design.sh, two of its corruptions): TCR's steps, and
# TCR at 1e-3 under the corrections.
set -euo pipefail
out=${1:-runs/grid/i2t-design.jsonl}
shifts=gaussian_noise@5,motion_blur@5
post='["recenter",["qbnorm",{"beta":10}]]'
python research/headroom/grid.py --direction i2t --shifts "$shifts" --queries 500 \
  --spec "tcr:lr=1e-3;post=$post" \
  --spec "tcr:lr=3e-3;steps=5;post=$post" \
  --spec "tcr:lr=3e-3;post=\"recenter\"" \
  --out "$out"
