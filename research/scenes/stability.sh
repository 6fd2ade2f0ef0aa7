#!/usr/bin/env bash
# The stream measurements on scenes (docs/results-diverse.md): continual (the shifts back to back,
# 3 rounds, severity 5), diverse (every query its own shift, severity 3-5) and gradual
# (severity 1->5->1 per shift) streams, for the baselines, TCR, its stability options, tcr-gd and
# the qshift method, each method at its own val-chosen lr (image queries),
# with image queries (i2t: the 16 corruptions) and text queries (t2i: the 15 text shifts).
# Every bench call is resumable: rerun the script after a kill.
# Usage: bash research/scenes/stability.sh [OUT_DIR [PART ...]]
#   PART: i2t-continual i2t-diverse i2t-gradual t2i-continual t2i-diverse (default: these, in
#   turn), val-anchor (the anchor strength on the val stream), or extra (more seeds and anchors,
#   not yet measured). Each part writes its own folders, so parts may run side by side in
#   separate processes. Wall minutes of one thread on a 2-core AMD EPYC, two to four such
#   processes side by side: i2t-continual 80, i2t-diverse 50, i2t-gradual 60,
#   t2i-continual 50, t2i-diverse 13, val-anchor 40.
set -euo pipefail
out=${1:-runs/stability}
shift || true
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(i2t-continual i2t-diverse i2t-gradual t2i-continual t2i-diverse)

bench() {  # bench DIRECTION SCENARIO SEEDS ARGS...
  local direction=$1 scenario=$2 seeds=$3
  shift 3
  local rounds=()
  [ "$scenario" = continual ] && rounds=(--rounds 3)
  qshift bench --scenario "$scenario" "${rounds[@]}" --direction "$direction" --i2t-queries 128 \
    --t2i-queries 128 --seeds "$seeds" --out "$out/$direction-$scenario" "$@"
}

i2t-continual() {  # most important first, so that a cut-short run still has the main rows
  bench i2t continual 0 --methods source,tent,eata,sar,tcr,tcr-gd,qshift
  # qshift's corrections keep stream state (a running mean, a query bank): without them, with an
  # exponential mean, with drift resets (TCR's drift row is below, with tcr-gd's)
  bench i2t continual 0 --methods qshift --hparam post=null
  bench i2t continual 0 --methods qshift --hparam 'post=[["recenter",{"momentum":0.9}],["qbnorm",{"beta":10}]]'
  bench i2t continual 0 --methods qshift --reset drift
  bench i2t continual 0 --methods tcr-gd --hparam anchor=1  # last round >= first, clean probes within 2 points
  bench i2t continual 0 --methods tcr-gd --hparam anchor=0.1
  bench i2t continual 0 --methods tcr,tcr-gd --reset drift
  bench i2t continual 0 --methods tcr-gd --hparam projection=none  # TCR's own steps: its angles
  bench i2t continual 0 --methods tcr-gd --hparam projection=per_tensor
  bench i2t continual 0 --methods tcr-gd --hparam teacher_momentum=0.99
  bench i2t continual 0 --methods tcr-gd --hparam anchor=0.1 --reset drift
}
i2t-diverse() {
  bench i2t diverse 0,1,2 --methods source,tcr,tcr-gd,qshift
  bench i2t diverse 0,1,2 --methods qshift --hparam post=null
  bench i2t diverse 0,1,2 --methods tcr-gd --hparam anchor=0.1
  bench i2t diverse 0,1,2 --methods tent,eata,sar
  bench i2t diverse 0,1,2 --methods tcr-gd --hparam projection=per_tensor
  bench i2t diverse 0,1,2 --methods tcr-gd --hparam projection=none
  bench i2t diverse 0,1,2 --methods tcr-gd --hparam anchor=1
}
i2t-gradual() {
  bench i2t gradual 0 --methods source,tcr,tcr-gd,qshift
  bench i2t gradual 0 --methods tent,eata,sar
  bench i2t gradual 0 --methods tcr-gd --hparam anchor=1
}
t2i-continual() {
  bench t2i continual 0 --methods source,tcr,tent,tcr-gd,qshift
}
t2i-diverse() {
  bench t2i diverse 0 --methods source,tcr,tcr-gd,qshift
  bench t2i diverse 0 --methods tcr-gd --hparam anchor=0.1
}

val-anchor() {  # the anchor strength on the val split's continual stream (never test)
  local val=(--dataset scenes:val --out "$out/val-i2t-continual")
  bench i2t continual 0 --methods source,tcr-gd "${val[@]}"
  local a
  for a in 0.3 1 3; do
    bench i2t continual 0 --methods tcr-gd --hparam anchor=$a "${val[@]}"
  done
}

extra() {
  bench i2t continual 1,2 --methods source,tent,tcr
  bench i2t continual 1,2 --methods tcr-gd --hparam anchor=1
  bench t2i continual 0 --methods tcr-gd --hparam anchor=1
}

for part in "${parts[@]}"; do
  case $part in
    i2t-continual | i2t-diverse | i2t-gradual | t2i-continual | t2i-diverse | val-anchor | extra)
      "$part"
      ;;
    *) echo "unknown part: $part" >&2; exit 2 ;;
  esac
done
