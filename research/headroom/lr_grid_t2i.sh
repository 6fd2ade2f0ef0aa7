#!/usr/bin/env bash
# The baselines' and align's lr grid on VAL for caption queries (500 captions, a sentence style
# and a character perturbation @5, stream seed 0; TCR and qshift: design_t2i.sh). Narrower than
# the image grid: the six baselines at small lr (the entropy methods collapse the text tower
# above), alignment around its image-query choice. Resumable.
# Usage: bash research/headroom/lr_grid_t2i.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/t2i-lr.jsonl}
shifts=formal@5,char_swap@5
specs=(--spec source --spec recenter --spec qbnorm --spec dbnorm --spec "recenter:post=[[\"qbnorm\",{\"beta\":10}]]")
for method in tent eata sar read deyo shot; do
  for lr in 3e-5 1e-4 3e-4; do specs+=(--spec "$method:lr=$lr"); done
done
for lr in 3e-4 1e-3 3e-3; do specs+=(--spec "align:lr=$lr"); done
python research/headroom/grid.py --direction t2i --shifts "$shifts" --queries 500 \
  --stats src/qshift/scenes/assets/scenes_source.stats-t2i.safetensors "${specs[@]}" --out "$out"
