#!/usr/bin/env bash
# The measurements of docs/headroom.md "Diagnosis", on the VAL split with the shipped model and
# its shipped clean statistics (about 40 one-thread minutes on the 2-core AMD EPYC).
# Usage: bash research/headroom/diagnose.sh [OUT_JSONL]
set -euo pipefail
out=${1:-runs/diagnose.jsonl}
here=$(dirname "$0")
export OMP_NUM_THREADS=1
four=gaussian_noise@5,motion_blur@5,fog@5,brightness@5
# TCR's selection and how often its pseudo-labels are right, at the old shared lr and at its own
python "$here/diagnose.py" tcr-rates --shifts "$four" --queries 500 --lr 3e-4 --out "$out"
python "$here/diagnose.py" tcr-rates --shifts "$four" --queries 500 --lr 3e-3 --out "$out"
# size and direction of each method's update against the transductive oracle's
python "$here/diagnose.py" updates --shifts gaussian_noise@5,fog@5 --queries 500 \
  --spec tent --spec eata --spec shot --spec tcr --spec "tcr:lr=3e-4" --spec align --spec qshift --out "$out"
# EATA on the long stream of clean captions: where R@1 falls
python "$here/diagnose.py" long-stream --direction t2i --shifts none --spec eata --out "$out"
