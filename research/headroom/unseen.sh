#!/usr/bin/env bash
# scenes i2t cells that no results table uses: the 16 corruptions at severity 3 (stream seed 0)
# and at severity 5 with stream seed 3, for source, TCR and qshift (each at its val lr). Two
# one-thread processes side by side; resumable.
# Usage: bash research/headroom/unseen.sh [OUT_DIR]
set -euo pipefail
out=${1:-runs/unseen}
mkdir -p "$out"
export OMP_NUM_THREADS=1
corruptions=(gaussian_noise shot_noise impulse_noise speckle_noise defocus_blur glass_blur motion_blur
  zoom_blur snow frost fog brightness contrast elastic_transform pixelate jpeg_compression)
at() { local IFS=,; echo "${corruptions[*]/%/@$1}"; }
qshift bench --direction i2t --shifts "$(at 3)" --methods source,tcr,qshift --seeds 0 --no-oracle \
  --out "$out/sev3" >"$out-sev3.log" 2>&1 &
qshift bench --direction i2t --shifts "$(at 5)" --methods source,tcr,qshift --seeds 3 --no-oracle \
  --out "$out/seed3" >"$out-seed3.log" 2>&1
wait
