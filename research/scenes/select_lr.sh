#!/usr/bin/env bash
# Choose the scenes backbone's adaptation lr on the VAL split (never test): Tent, EATA and TCR on
# four image corruptions at severity 5, every lr in the grid; the lr with the best mean R@1 over
# the three methods becomes SceneEncoder.method_defaults (docs/scenes.md shows the table).
# Usage: bash research/scenes/select_lr.sh [OUT_DIR]   (about 15 CPU-minutes on 2 cores)
set -euo pipefail
out=${1:-runs/scenes-val-lr}
shifts=gaussian_noise@5,defocus_blur@5,fog@5,pixelate@5
qshift bench --dataset scenes:val --direction i2t --shifts "$shifts" --methods source --out "$out"
for lr in 3e-4 1e-3 3e-3; do
  qshift bench --dataset scenes:val --direction i2t --shifts "$shifts" --methods tent,eata,tcr \
    --hparam lr=$lr --out "$out"
done
