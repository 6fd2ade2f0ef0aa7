#!/usr/bin/env bash
# The per-method lr grid on VAL for caption queries (500 captions, a sentence style and a
# character perturbation @5, stream seed 0). A caption run costs about 5x an image run on this
# CPU, so the grid is narrower than the image one: the entropy baselines at small lr (they
# collapse the text tower above), TCR and alignment around their image-query choices; SAR,
# READ and DeYO are left out. Resumable.
# Usage: bash research/headroom/lr_grid_t2i.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/t2i-lr.jsonl}
shifts=formal@5,char_swap@5
specs=(--spec source --spec recenter --spec qbnorm --spec dbnorm --spec "recenter:post=[[\"qbnorm\",{\"beta\":10}]]")
for method in tent eata shot; do
  for lr in 3e-5 1e-4 3e-4; do specs+=(--spec "$method:lr=$lr"); done
done
for lr in 1e-4 3e-4 1e-3; do specs+=(--spec "tcr:lr=$lr"); done
for lr in 3e-4 1e-3 3e-3; do specs+=(--spec "align:lr=$lr"); done
python research/headroom/grid.py --direction t2i --shifts "$shifts" --queries 500 "${specs[@]}" --out "$out"
