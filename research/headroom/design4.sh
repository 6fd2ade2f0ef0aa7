#!/usr/bin/env bash
# Gallery smoothing (the `smooth` post transform) after qshift's re-centering and QB-Norm, on
# VAL: the eight full-length streams of design3.sh (all 1,000 val images, stream seed 0) and
# the clean val stream, for k (neighbours) and alpha (weight); then design3's two options on top
# of the chosen smoothing, since smoothed scores rank the gallery better (corrected_candidates
# reads them) and rescore records the batch under its adapted weights. Resumable.
# Usage: bash research/headroom/design4.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/grid/i2t-design4.jsonl}
shifts=gaussian_noise@5,defocus_blur@5,motion_blur@5,zoom_blur@5,snow@5,fog@5,brightness@5,jpeg_compression@5
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
base='"recenter",["qbnorm",{"beta":10}]'
specs=(--spec "qshift:post=[$base]")
for k_alpha in 4,0.5 3,0.5 6,0.5 4,1.0; do
  specs+=(--spec "qshift:post=[$base,[\"smooth\",{\"k\":${k_alpha%,*},\"alpha\":${k_alpha#*,}}]]")
done
smooth='["smooth",{"k":4,"alpha":0.5}]'
for option in "corrected_candidates=true" "rescore=true" "corrected_candidates=true;rescore=true"; do
  specs+=(--spec "qshift:post=[$base,$smooth];$option")
done
for stream in "$shifts" none; do
  python research/headroom/grid.py --direction i2t --shifts "$stream" \
    --stats src/qshift/scenes/assets/scenes_source.stats-i2t.safetensors "${specs[@]}" --out "$out"
done
