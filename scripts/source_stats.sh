#!/usr/bin/env bash
# The clean-query statistics shipped beside the embedded models (read by recenter, align, qshift
# and the post corrections): 2,000 clean queries of each model's train split, seed 0, written
# beside the weights in src/qshift/*/assets. A few minutes on one CPU core in all.
#   bash scripts/source_stats.sh
set -euo pipefail
QSHIFT=${QSHIFT:-qshift}
stats() { "$QSHIFT" stats --queries 2000 --seed 0 "$@"; }
stats --model scenes --dataset scenes:train --direction i2t
stats --model scenes --dataset scenes:train --direction t2i
stats --model scenes-cir --dataset scenes-cir:train --direction cir
stats --model scenes-av --dataset scenes-av:train --direction a2v
stats --model scenes-av --dataset scenes-av:train --direction v2a
