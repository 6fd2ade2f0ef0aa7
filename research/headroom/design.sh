#!/usr/bin/env bash
# Designing the qshift method on VAL (500 image queries, the lr grid's 4 corruptions @5, stream
# seed 0): alignment at larger lr, stacked post transforms, TCR + alignment. Resumable.
# Usage: bash research/headroom/design.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/i2t-design.jsonl}
shifts=gaussian_noise@5,motion_blur@5,fog@5,brightness@5
post='["recenter",["qbnorm",{"beta":10}]]'
python research/headroom/grid.py --direction i2t --shifts "$shifts" --queries 500 \
  --spec source \
  --spec "recenter:post=[[\"qbnorm\",{\"beta\":10}]]" \
  --spec "align:lr=3e-2" --spec "align:lr=1e-1" \
  --spec "align:lr=1e-2;post=\"recenter\"" \
  --spec "align:lr=1e-2;post=$post" \
  --spec "tcr:lr=3e-3;post=$post" \
  --spec "qshift:lr=1e-2;temperature=0.02;align_weight=1;post=$post" \
  --spec "qshift:lr=3e-3;temperature=0.02;align_weight=1;post=$post" \
  --spec "qshift:lr=1e-2;temperature=0.02;align_weight=10;post=$post" \
  --out "$out"
