#!/usr/bin/env bash
# Two options of the qshift method on VAL, on full-length streams (all 1,000 val images, 16
# batches) and eight corruptions @5 (stream seed 0): pseudo-targets read from the corrected
# scores (corrected_candidates), one more forward after the last update (rescore), a heavier
# alignment term, QB-Norm at the paper's β = 20; TCR at its val lr as the reference. Resumable.
# Usage: bash research/headroom/design3.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/i2t-design3.jsonl}
shifts=gaussian_noise@5,defocus_blur@5,motion_blur@5,zoom_blur@5,snow@5,fog@5,brightness@5,jpeg_compression@5
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
python research/headroom/grid.py --direction i2t --shifts "$shifts" \
  --stats src/qshift/scenes/assets/scenes_source.stats-i2t.safetensors \
  --spec source --spec tcr --spec qshift \
  --spec "qshift:corrected_candidates=true" --spec "qshift:rescore=true" \
  --spec "qshift:corrected_candidates=true;rescore=true" \
  --spec "qshift:align_weight=3" \
  --spec "qshift:post=[\"recenter\",[\"qbnorm\",{\"beta\":20}]]" \
  --out "$out"
