#!/usr/bin/env bash
# Every table of docs/results-scenes.md for the shipped scenes weights, as two one-thread lanes
# that share a 2-core CPU (about three hours on the 2-core AMD EPYC of docs/scenes.md, and 60-75
# one-thread minutes more per oracle mode of the text suite, 4-5 minutes a caption cell), then the
# merged tables and plots. The oracle rows are fitted on stream seed 0 (the seeds table shows them
# from seed 0); the transductive ones, which no share needs, last. Every bench call is resumable:
# rerun the script after a kill.
# Each method runs at its own lr chosen on val (SCENES_I2T_LRS; research/headroom/lr_grid.sh);
# re-choose them when the weights change, and time `qshift demo` alone afterwards.
# Usage: bash research/scenes/results.sh [OUT_DIR]
set -euo pipefail
out=${1:-runs/results-scenes}
export OMP_NUM_THREADS=1
methods=source,tent,eata,sar,read,deyo,shot,tcr,recenter,qbnorm,dbnorm,align,qshift
seeded=source,tcr,qshift
text_methods=source,qshift,tcr,recenter,qbnorm,dbnorm,shot,tent,align,eata,read,deyo,sar
first=gaussian_noise@5,shot_noise@5,impulse_noise@5,speckle_noise@5,defocus_blur@5,glass_blur@5,motion_blur@5,zoom_blur@5
second=snow@5,frost@5,fog@5,brightness@5,contrast@5,elastic_transform@5,pixelate@5,jpeg_compression@5

# One results.jsonl per process (the store takes one writer); the cells are deterministic each on
# its own, so the split gives the same numbers as the single suite commands.
heldout=(--seeds 0 --oracle --oracle-modes heldout)
both=(--seeds 0 --oracle --oracle-modes heldout,transductive)
lane_a() {
  qshift bench --direction i2t --shifts "$first" --methods "$methods" "${heldout[@]}" --out "$out/lanes/image-a"
  qshift bench --suite scenes-qs-image --methods "$seeded" --seeds 1 --no-oracle --out "$out/lanes/seed-1"
  qshift bench --suite scenes-qs-text --methods "$text_methods" "${heldout[@]}" --out "$out/scenes-qs-text"
  qshift bench --direction i2t --shifts "$first" --methods "$methods" "${both[@]}" --out "$out/lanes/image-a"
  qshift bench --suite scenes-qs-text --methods "$text_methods" "${both[@]}" --out "$out/scenes-qs-text"
}
lane_b() {
  qshift bench --direction i2t --shifts "$second" --methods "$methods" "${heldout[@]}" --out "$out/lanes/image-b"
  qshift bench --suite scenes-qs-image --methods "$seeded" --seeds 2 --no-oracle --out "$out/lanes/seed-2"
  qshift bench --shifts none --direction i2t --methods source,eata,tcr,qshift --seeds 0 --out "$out/clean-i2t"
  qshift bench --shifts none --direction t2i --methods source,eata,qshift,tcr --seeds 0 --out "$out/clean-t2i"
  qshift bench --direction i2t --shifts "$second" --methods "$methods" "${both[@]}" --out "$out/lanes/image-b"
}

merge() {  # merge TARGET METHODS LANE...: the lanes' cells of METHODS in TARGET/results.jsonl
  python -c '
import json, sys
from pathlib import Path
out, target, methods, lanes = Path(sys.argv[1]), Path(sys.argv[2]), set(sys.argv[3].split(",")), sys.argv[4:]
rows = [
    line
    for lane in lanes
    for line in (out / "lanes" / lane / "results.jsonl").read_text().splitlines()
    if json.loads(line)["method"] in methods
]
target.mkdir(parents=True, exist_ok=True)
(target / "results.jsonl").write_text("".join(row + "\n" for row in rows))
' "$out" "$@"
}

mkdir -p "$out"
lane_a >"$out/lane-a.log" 2>&1 &
pid_a=$!
lane_b >"$out/lane-b.log" 2>&1 || { wait "$pid_a"; exit 1; }
wait "$pid_a"

# with every cell present, the suite commands only write the tables and plots
oracles=oracle-heldout,oracle-transductive
merge "$out/scenes-qs-image" "$methods,$oracles" image-a image-b
qshift bench --suite scenes-qs-image --methods "$methods" --seeds 0 --out "$out/scenes-qs-image"
merge "$out/scenes-qs-image-seeds" "$seeded,$oracles" image-a image-b seed-1 seed-2
qshift bench --suite scenes-qs-image --methods "$seeded" --seeds 0,1,2 --no-oracle --out "$out/scenes-qs-image-seeds"
echo "tables: $out/scenes-qs-image/table.md, $out/scenes-qs-image-seeds/table.md," \
  "$out/scenes-qs-text/table.md, $out/clean-i2t/table.md, $out/clean-t2i/table.md"
