#!/usr/bin/env bash
# Issue 7's measurements on scenes (docs/results-diverse.md): continual (16 corruptions x 3
# rounds at severity 5), diverse (every query its own corruption, severity 3-5; 3 stream seeds)
# and gradual (severity 1->5->1 per corruption) image-query streams, for the baselines, TCR, its
# stability options and tcr-gd. Every bench call is resumable: rerun the script after a kill.
# Usage: bash scripts/scenes_stability.sh [OUT_DIR]   (about 70 one-thread CPU-minutes)
set -euo pipefail
out=${1:-runs/stability}
q=(--direction i2t --i2t-queries 128)

continual() { qshift bench --scenario continual --rounds 3 "${q[@]}" --seeds 0 --out "$out/continual" "$@"; }
diverse() { qshift bench --scenario diverse "${q[@]}" --seeds 0,1,2 --out "$out/diverse" "$@"; }

# most important first, so that a cut-short run still answers the questions
continual --methods source,tent,eata,sar,tcr,tcr-gd
diverse --methods source,tcr,tcr-gd
continual --methods tcr-gd --hparam projection=none   # TCR's own steps; measures the angles only
continual --methods tcr,tcr-gd --reset drift
continual --methods tcr-gd --hparam anchor=0.1
diverse --methods tcr-gd --hparam anchor=0.1
continual --methods tcr-gd --hparam teacher_momentum=0.99
qshift bench --scenario diverse "${q[@]}" --seeds 0 --out "$out/diverse" --methods tent,eata,sar
qshift bench --scenario gradual "${q[@]}" --seeds 0 --out "$out/gradual" --methods source,tcr,tcr-gd
