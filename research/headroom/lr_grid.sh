#!/usr/bin/env bash
# The per-method lr grid on VAL (500 image queries, 4 corruptions @5, stream seed 0): every
# adapting method at every lr, the training-free ones once. Resumable (rows in $out).
# Usage: bash research/headroom/lr_grid.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/i2t-lr.jsonl}
shifts=gaussian_noise@5,motion_blur@5,fog@5,brightness@5
specs=(--spec source --spec recenter --spec qbnorm --spec dbnorm)
for method in tent eata sar read deyo shot tcr align; do
  for lr in 1e-4 3e-4 1e-3 3e-3 1e-2; do
    specs+=(--spec "$method:lr=$lr")
  done
done
python research/headroom/grid.py --direction i2t --shifts "$shifts" --queries 500 "${specs[@]}" --out "$out"
