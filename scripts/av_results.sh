#!/usr/bin/env bash
# docs/results-av.md: every method on the scenes-av suites (3 stream seeds), the clean rows and
# the temporal scenario. Resumable: each qshift bench continues where it stopped (results.jsonl).
# One CPU-heavy process at a time, niced; OUT defaults to runs/results-av.
#   bash scripts/av_results.sh [OUT]
set -euo pipefail
OUT=${1:-runs/results-av}
QSHIFT=${QSHIFT:-qshift}
METHODS=source,tent,eata,sar,read,deyo,shot,tcr,tcr-free,tcr-gd
SEEDS=0,1,2
#: query subsets (the gallery stays whole: 1,000 clips); see docs/results-av.md
AUDIO_QUERIES=${AUDIO_QUERIES:-1000}
VIDEO_QUERIES=${VIDEO_QUERIES:-384}
TEMPORAL_QUERIES=${TEMPORAL_QUERIES:-128}
run() { nice -n 15 "$QSHIFT" bench --workers 1 "$@"; }

run --shifts none --direction a2v --model scenes-av --dataset scenes-av --methods source --out "$OUT/clean"
run --shifts none --direction v2a --model scenes-av --dataset scenes-av --methods source --out "$OUT/clean"
# the source model's a2v R@1 at every audio severity (is any severity measurable?)
severities=$(for n in gaussian_noise traffic crowd rain thunder wind; do printf '%s@1,%s@2,%s@3,%s@4,%s@5,' $n $n $n $n $n; done)
run --shifts "${severities%,}" --direction a2v --model scenes-av --dataset scenes-av --methods source --out "$OUT/audio-severity"
run --suite scenes-av-audio --methods "$METHODS" --seeds "$SEEDS" --queries "$AUDIO_QUERIES" --out "$OUT/audio"
run --suite scenes-av-video --methods "$METHODS" --seeds "$SEEDS" --queries "$VIDEO_QUERIES" --out "$OUT/video"
run --scenario temporal --direction v2a --model scenes-av --dataset scenes-av --methods "$METHODS" \
    --seeds "$SEEDS" --queries "$TEMPORAL_QUERIES" --out "$OUT/temporal"
