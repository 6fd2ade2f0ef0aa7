"""The resumable bench, its tables and plots, and the CLI's error contract."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from qshift.bench import query_data, run_bench
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


def test_reproduce_on_tiny_fixtures(tmp_path, tiny_clip_dir, tiny_karpathy, capsys):
    out = tmp_path / "repro"
    code = main(
        ["reproduce", "--model", f"hf:{tiny_clip_dir}", "--dataset", tiny_karpathy.spec,
         "--methods", "source,tcr", "--limit-shifts", "1", "--out", str(out), "--workers", "1"]
    )  # fmt: skip
    assert code == 0
    table = (out / "comparison.md").read_text()
    assert "### COCO-C i2t, average R@1" in table and "### COCO-C t2i, average R@1" in table
    assert "| tcr |" in table and "| 59.1 |" in table and "| best baseline |" not in table.split("t2i")[0]
    assert main(["reproduce", "--model", "x", "--dataset", "y", "--directions", "up", "--out", str(out)]) == 2
    assert "--directions" in capsys.readouterr().err


def test_reproduce_script_checks_arguments(tmp_path):
    import subprocess
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "reproduce_coco_c.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr
    done = subprocess.run(
        ["bash", str(script), str(tmp_path / "nope"), str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "checkpoint directory not found" in done.stderr


def test_run_cli_json_contract_with_tiny_clip_both_directions(tmp_path, tiny_clip_dir, tiny_karpathy, capsys):
    for direction, shift in (("i2t", "gaussian_noise@3"), ("t2i", "ocr@5")):
        code = main(
            ["run", "--model", f"hf:{tiny_clip_dir}", "--dataset", tiny_karpathy.spec,
             "--direction", direction, "--shift", shift, "--method", "tcr", "--json",
             "--out", str(tmp_path / direction)]
        )  # fmt: skip
        assert code == 0
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert line["direction"] == direction and line["shift"] == shift and line["method"] == "tcr"
        assert {"r1", "r5", "r10", "r_mean", "map", "gap_before", "gap_after", "queries", "seconds"} <= set(
            line
        )
        assert json.loads((tmp_path / direction / "result.json").read_text()) == line


def test_missing_annotation_exits_2_naming_it(tmp_path, tiny_clip_dir, capsys):
    missing = tmp_path / "nope.json"
    code = main(["run", "--model", f"hf:{tiny_clip_dir}", "--dataset", f"karpathy:{missing}:{tmp_path}",
                 "--direction", "i2t", "--shift", "none", "--method", "source", "--json"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(missing) in err[0]


def test_query_subsets_keep_the_whole_gallery(tmp_path):
    ds = toy_dataset(n_images=24, captions=2)
    images = ds.subset_images([3, 7, 11])
    assert images.num_images == 3 and images.num_texts == ds.num_texts
    np.testing.assert_array_equal(images.images[1], ds.images[7])
    assert images.image_groups.tolist() == [3, 7, 11]
    with pytest.raises(ValueError, match=r"image indices must lie in \[0, 24\)"):
        ds.subset_images([24])
    assert query_data(ds, "i2t", None) is ds
    assert query_data(ds, "t2i", np.array([0, 5])).texts == [ds.texts[0], ds.texts[5]]
    rows = run_bench(
        ToyDualEncoder.build(),
        ds,
        CELLS,
        ["source"],
        [0],
        tmp_path,
        batch_size=4,
        i2t_queries=10,
        t2i_queries=6,
    )
    counts = {r["direction"]: r["queries"] for r in rows}
    assert counts == {"i2t": 10, "t2i": 6}


def test_cli_tcr_gd_without_projection_is_tcr(tiny_clip_dir, tiny_karpathy, capsys, one_thread):
    """tcr-gd inherits TCR's defaults (its own τ 0.02) through the CLI: with projection=none it makes
    TCR's updates, so every number equals TCR's; at the baselines' τ the numbers differ."""

    def run(method: str, *hparams: str) -> dict:
        argv = ["run", "--model", f"hf:{tiny_clip_dir}", "--dataset", tiny_karpathy.spec, "--direction",
                "t2i", "--shift", "ocr@5", "--method", method, "--batch-size", "8", "--json"]  # fmt: skip
        for item in hparams:
            argv += ["--hparam", item]
        assert main(argv) == 0
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        return {k: v for k, v in line.items() if k not in ("method", "seconds")}

    tcr = run("tcr")
    assert run("tcr-gd", "projection=none", "lr=0.05") == run("tcr", "lr=0.05")
    assert run("tcr-gd", "projection=none") == tcr
    assert run("tcr", "temperature=0.01")["uniformity_after"] != tcr["uniformity_after"]


def test_bench_adds_the_oracle_rows_of_every_cell_and_resumes_them(tmp_path):
    enc, ds = ToyDualEncoder.build(), toy_dataset()
    cells = (("i2t", ShiftSpec("gaussian_noise", 5)),)
    rows = run_bench(enc, ds, cells, ["source"], [0], tmp_path, batch_size=8, oracle=True, plots=False)
    assert [r["method"] for r in rows] == ["source", "oracle-heldout", "oracle-transductive"]
    assert all(r["upper_bound"] and r["queries"] == 24 for r in rows[1:])
    again = run_bench(enc, ds, cells, ["source"], [0], tmp_path, batch_size=8, oracle=True, plots=False)
    assert again == rows  # nothing recomputed


def test_oracle_modes_fit_only_the_named_rows_and_add_the_others_later(tmp_path):
    enc, ds = ToyDualEncoder.build(), toy_dataset()
    cells = (("i2t", ShiftSpec("gaussian_noise", 5)),)
    common = dict(batch_size=8, oracle=True, plots=False)
    rows = run_bench(enc, ds, cells, ["source"], [0], tmp_path, oracle_modes=["heldout"], **common)
    assert [r["method"] for r in rows] == ["source", "oracle-heldout"]
    rows = run_bench(enc, ds, cells, ["source"], [0], tmp_path, **common)
    assert [r["method"] for r in rows] == ["source", "oracle-heldout", "oracle-transductive"]
    with pytest.raises(ValueError, match="unknown oracle modes"):
        run_bench(enc, ds, cells, ["source"], [0], tmp_path, oracle_modes=["both"], **common)


def test_tables_give_each_method_its_share_of_the_headroom():
    r1 = {
        "source": (10.0, 30.0),
        "tcr": (12.0, 33.0),
        "oracle-heldout": (20.0, 40.0),
        "oracle-transductive": (25.0, 45.0),
    }
    rows = [
        {"direction": "i2t", "shift": shift, "method": method, "seed": 0, "r1": values[k]}
        for method, values in r1.items()
        for k, shift in enumerate(("a@5", "b@5"))
    ]
    header, _, *body = [line for line in markdown_table(rows).splitlines() if line.startswith("|")]
    assert header == "| Method | a@5 | b@5 | Avg. | Headroom share |"
    assert body == [
        "| source | 10.0 | 30.0 | 20.0 | 0 % |",
        "| tcr | 12.0 | 33.0 | 22.5 | 25 % |",
        "| oracle, held-out (upper bound) | 20.0 | 40.0 | 30.0 | 100 % |",
        "| oracle, transductive (upper bound) | 25.0 | 45.0 | 35.0 | 150 % |",
    ]
    no_oracle = [r for r in rows if not r["method"].startswith("oracle")]
    assert "Headroom share" not in markdown_table(no_oracle)
