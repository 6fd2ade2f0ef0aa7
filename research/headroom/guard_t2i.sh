#!/usr/bin/env bash
# The clean guard of the caption-query choices on VAL: TCR and the qshift method (no alignment
# term) at each caption lr on 1,000 clean val captions (stream seed 0), to weigh against the
# shifted-caption gains of design_t2i.sh. Resumable.
# Usage: bash research/headroom/guard_t2i.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/t2i-clean-guard.jsonl}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
specs=(--spec source)
for lr in 3e-4 1e-3 3e-3; do specs+=(--spec "tcr:lr=$lr" --spec "qshift:lr=$lr;align_weight=0"); done
python research/headroom/grid.py --direction t2i --shifts none --queries 1000 \
  --stats src/qshift/scenes/assets/scenes_source.stats-t2i.safetensors "${specs[@]}" --out "$out"
