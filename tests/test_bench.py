"""The resumable bench, its tables and plots, and the CLI's error contract."""

from __future__ import annotations

import csv
import json

import pytest

from qshift.bench import run_bench
from qshift.cli import main
from qshift.results import ResultStore, markdown_table, pivot
from qshift.shifts.spec import ShiftSpec

from toys import ToyDualEncoder, toy_dataset

CELLS = (
    ("i2t", ShiftSpec("gaussian_noise", 5)),
    ("i2t", ShiftSpec("fog", 5)),
    ("t2i", ShiftSpec("char_swap", 5)),
)


def test_bench_writes_tables_and_resumes_without_duplicates(tmp_path):
    enc, ds = ToyDualEncoder.build(), toy_dataset()
    rows = run_bench(enc, ds, CELLS, ["source", "tcr"], [0, 1], tmp_path, batch_size=8)
    assert len(rows) == 3 * 2 * 2
    for name in ("results.jsonl", "table.md", "table.csv", "bars.png", "geometry.png"):
        assert (tmp_path / name).stat().st_size > 0
    md = (tmp_path / "table.md").read_text()
    assert "| Method | gaussian_noise@5 | fog@5 | Avg. |" in md and "±" in md
    with (tmp_path / "table.csv").open() as handle:
        table = list(csv.reader(handle))
    assert table[0][:4] == ["direction", "method", "gaussian_noise@5", "gaussian_noise@5 std"]
    # simulate a kill: drop the last 3 rows and leave half a line behind
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    (tmp_path / "results.jsonl").write_text("\n".join(lines[:-3]) + "\n" + lines[-3][: len(lines[-3]) // 2])
    store = ResultStore(tmp_path / "results.jsonl")
    assert len(store.rows) == len(lines) - 3
    again = run_bench(enc, ds, CELLS, ["source", "tcr"], [0, 1], tmp_path, batch_size=8)
    assert len(again) == len(lines)
    keys = [(r["direction"], r["shift"], r["method"], r["seed"]) for r in again]
    assert len(set(keys)) == len(keys)
    # the rerun recomputed exactly the dropped cells, with the same numbers
    original = {(r["direction"], r["shift"], r["method"], r["seed"]): r["r1"] for r in map(json.loads, lines)}
    assert {k: r["r1"] for k, r in zip(keys, again, strict=True)} == original


def test_pivot_average_needs_every_shift():
    rows = [
        {"direction": "i2t", "shift": "a@5", "method": "m", "seed": 0, "r1": 10.0},
        {"direction": "i2t", "shift": "b@5", "method": "m", "seed": 0, "r1": 30.0},
        {"direction": "i2t", "shift": "a@5", "method": "n", "seed": 0, "r1": 50.0},
    ]
    table = pivot(rows)["i2t"]["table"]
    assert table["m"]["Avg."][0] == pytest.approx(20.0)
    assert "Avg." not in table["n"]
    assert "| n | 50.0 | – | – |" in markdown_table(rows)


def test_cli_user_errors_exit_2(capsys, tmp_path):
    assert main(["run", "--model", "scenes", "--dataset", f"karpathy:{tmp_path}/missing.json:{tmp_path}",
                 "--direction", "i2t", "--method", "nope"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown method 'nope'" in err[0]
    assert main(["bench", "--out", str(tmp_path), "--suite", "nope"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert main(["bench", "--out", str(tmp_path), "--shifts", "fog@5"]) == 2
    assert "--direction" in capsys.readouterr().err
