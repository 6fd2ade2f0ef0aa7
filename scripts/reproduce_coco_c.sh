#!/usr/bin/env bash
# Reproduce the TCR paper's COCO-C tables (BLIP ViT-B/16, i2t and t2i) on a GPU machine.
#   scripts/reproduce_coco_c.sh <blip-retrieval-checkpoint-dir> <coco-root> [out-dir]
# <coco-root> holds coco_karpathy_test.json (or annotation/coco_karpathy_test.json) and the
# images (in images/ or directly). Prints your averages beside the published ones (method.md §4).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 <blip-checkpoint-dir> <coco-root> [out-dir]" >&2
  exit 2
fi
model=$1
root=$2
out=${3:-runs/coco-c-blip-b}
[ -d "$model" ] || { echo "checkpoint directory not found: $model" >&2; exit 2; }
[ -d "$root" ] || { echo "COCO root not found: $root" >&2; exit 2; }
exec qshift reproduce --model "hf:$model" --dataset "coco:$root" --directions i2t,t2i \
  --published blip-b --out "$out"
