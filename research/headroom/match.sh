#!/usr/bin/env bash
# Closed-form statistics matching (research/headroom/match.py) on VAL, full-length streams (all
# 1,000 val images, eight corruptions @5, stream seed 0): the source model with every
# normalisation layer matched to the clean statistics (strength 1 and 0.5, the mean alone, the
# first three layers), then matching at strength 0.5 under the training-free corrections, TCR
# and the qshift method. Compare with design3.sh's rows on the same cells. Resumable.
# Usage: bash research/headroom/match.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/i2t-match.jsonl}
shifts=gaussian_noise@5,defocus_blur@5,motion_blur@5,zoom_blur@5,snow@5,fog@5,brightness@5,jpeg_compression@5
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONPATH=research/headroom${PYTHONPATH:+:$PYTHONPATH}
match() { python research/headroom/match.py --shifts "$shifts" --out "$out" "$@"; }
match --alpha 1 --spec source
match --alpha 0.5 --spec source
match --alpha 1 --mean-only --spec source
match --alpha 1 --layers 3 --spec source
match --alpha 0.5 --spec 'source:post=["recenter",["qbnorm",{"beta":10}]]' --spec qshift --spec tcr
