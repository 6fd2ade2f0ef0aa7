#!/usr/bin/env bash
# The caption-query (t2i) choices of TCR and the qshift method on VAL (500 captions, a sentence
# style and a character perturbation @5, stream seed 0): TCR's lr, and qshift's lr, alignment
# weight, corrections and options; the training-free corrections as reference. The chosen
# values are SCENES_T2I_HPARAMS in src/qshift/scenes/model.py. Resumable.
# Usage: bash research/headroom/design_t2i.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/t2i-design.jsonl}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
specs=(--spec source --spec recenter --spec "recenter:post=[[\"qbnorm\",{\"beta\":10}]]")
for lr in 1e-4 3e-4 1e-3 3e-3 1e-2; do specs+=(--spec "tcr:lr=$lr"); done
for lr in 3e-4 1e-3 3e-3; do specs+=(--spec "qshift:lr=$lr;align_weight=1"); done
for lr in 3e-4 1e-3 3e-3 1e-2; do specs+=(--spec "qshift:lr=$lr;align_weight=0"); done
specs+=(--spec "qshift:lr=3e-4;align_weight=1;post=\"recenter\"" --spec "qshift:lr=1e-3;align_weight=1;post=\"recenter\"")
specs+=(--spec "qshift:lr=1e-3;align_weight=1;post=null" --spec "qshift:lr=1e-3;align_weight=0.1")
specs+=(--spec "qshift:lr=1e-3;align_weight=1;corrected_candidates=true")
specs+=(--spec "qshift:lr=1e-3;align_weight=1;rescore=true")
python research/headroom/grid.py --direction t2i --shifts formal@5,char_swap@5 --queries 500 \
  --stats src/qshift/scenes/assets/scenes_source.stats-t2i.safetensors "${specs[@]}" --out "$out"
