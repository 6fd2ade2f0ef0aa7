"""Scenario suites of ``qshift bench --scenario``: streams, rows, tables, plots, resume, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qshift.bench.scenarios import run_scenario, scenario, scenario_shifts
from qshift.cli import main
from qshift.data.base import RetrievalDataset
from qshift.errors import UsageError
from qshift.shifts import names
from qshift.shifts.text import PAPER_TEXT_SHIFTS

from toys import ToyDualEncoder, toy_dataset

N, B = 24, 8  # queries, batch size: 3 batches per pass


def adapted_and_probes(plan):
    return [b for b in plan if not b.probe], [i for i, b in enumerate(plan) if b.probe]


def test_shift_families_per_direction():
    assert scenario_shifts("i2t") == tuple(names("image")) and len(scenario_shifts("i2t")) == 16
    assert scenario_shifts("t2i") == PAPER_TEXT_SHIFTS and len(scenario_shifts("t2i")) == 15


def test_diverse_mixes_every_shift_at_severities_3_to_5_per_item():
    plan = scenario("diverse", "i2t").plan(N, B, seed=0)
    adapted, probes = adapted_and_probes(plan)
    assert len(adapted) == 16 * 3  # one pass per shift
    assert probes == list(range(4, len(plan), 5))  # after every 4th adapted batch
    specs = [s for b in adapted for s in b.shifts]
    assert {s.name for s in specs} == set(names("image"))
    assert {s.severity for s in specs} == {3, 4, 5}
    assert all(len({s.name for s in b.shifts}) > 1 for b in adapted)  # mixed within a batch
    assert {b.label for b in adapted} == {"mixed"}


def test_continual_runs_the_shifts_back_to_back_for_each_round():
    chosen = scenario("continual", "t2i", rounds=2)
    assert chosen.label == "continual×2"
    adapted, probes = adapted_and_probes(chosen.plan(N, B, seed=0))
    assert len(adapted) == 2 * 15 * 3 and len(probes) == len(adapted) // 4
    one_round = [f"{s}@5" for s in PAPER_TEXT_SHIFTS for _ in range(3)]
    assert [b.label for b in adapted] == one_round * 2
    assert all(len(set(b.shifts)) == 1 for b in adapted)
    assert scenario("continual", "i2t").rounds == 3  # the default


def test_gradual_sweeps_severity_up_and_down_for_each_shift():
    plan = scenario("gradual", "i2t", probe_every=6).plan(N, B, seed=0)
    adapted, probes = adapted_and_probes(plan)
    levels = (1, 2, 3, 4, 5, 4, 3, 2, 1)
    assert [b.label for b in adapted] == [f"{s}@{v}" for s in names("image") for v in levels]
    assert probes == list(range(6, len(plan), 7))
    assert all(b.label == "probe" and {s.name for s in b.shifts} == {"none"} for b in plan if b.probe)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--scenario", "sideways", "--direction", "i2t"], "'sideways'"),
        (["--scenario", "continual", "--direction", "i2t", "--rounds", "0"], "--rounds: rounds must be >= 1"),
        (["--scenario", "diverse", "--direction", "i2t", "--rounds", "2"], "continual scenario only"),
        (["--scenario", "gradual", "--direction", "i2t", "--probe-every", "0"], "got 0"),
        (["--scenario", "gradual"], "--direction"),
        (["--shifts", "fog@5", "--direction", "i2t", "--rounds", "2"], "--rounds applies to --scenario"),
    ],
)
def test_bad_scenario_flags_exit_2_with_one_line_naming_the_value(argv, named, tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0]
    with pytest.raises(UsageError, match="'sideways'"):
        scenario("sideways", "i2t")


def test_continual_bench_rows_tables_plots_and_resume(tmp_path):
    enc, ds = ToyDualEncoder.build(), toy_dataset()
    chosen = scenario("continual", "i2t", rounds=2)
    kwargs = dict(batch_size=B, queries=B)  # one batch per shift, 32 adapted + 8 probe batches
    rows = run_scenario(enc, ds, chosen, ["source", "tcr-gd"], [0, 1], tmp_path, **kwargs)
    assert len(rows) == 4
    for name in ("results.jsonl", "scenarios.md", "stream-continualx2-i2t.png", "angles-continualx2-i2t.png"):
        assert (tmp_path / name).stat().st_size > 0
    row = next(r for r in rows if r["method"] == "tcr-gd")
    assert row["shift"] == "continual×2" and row["stream"] == "continual×2" and row["scenario"] == "continual"
    assert row["queries"] == 32 * B and row["drift_resets"] == 0
    # per segment: every shift label, each over its two rounds
    assert list(row["segments"]) == [f"{s}@5" for s in names("image")]
    # rounds: first and last of the per-round R@1, each the R@1 of that round's batches
    series = [p for p in row["series"] if not p["probe"]]
    assert len(series) == 32 and [p["i"] for p in row["series"] if p["probe"]] == list(range(4, 40, 5))
    assert row["round_r1"] == [
        pytest.approx(np.mean([p["r1"] for p in series[:16]]), abs=1e-3),
        pytest.approx(np.mean([p["r1"] for p in series[16:]]), abs=1e-3),
    ]
    assert (row["first_round_r1"], row["last_round_r1"]) == tuple(row["round_r1"])
    # forgetting: the source model's probe R@1 minus the adapted model's
    for r in rows:
        assert r["forgetting"] == pytest.approx(r["source_probe_r1"] - r["probe_r1"], abs=1e-3)
    source = next(r for r in rows if r["method"] == "source")
    assert source["forgetting"] == 0 and "angle_stats" not in source
    assert row["angle_stats"]["steps_measured"] == len(row["angles"]) > 0
    md = (tmp_path / "scenarios.md").read_text()
    assert "### continual×2 i2t (probe every 4 batches)" in md
    assert "| Method | R@1 | first round | last round | probe R@1 | source probe R@1 | forgetting |" in md
    assert "| source |" in md and "| tcr-gd |" in md and "angles > 90° (%)" in md
    # a kill during the last row: rerun recomputes exactly it, with the same numbers
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    (tmp_path / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:50])
    again = run_scenario(enc, ds, chosen, ["source", "tcr-gd"], [0, 1], tmp_path, **kwargs)
    assert len(again) == 4
    keys = [(r["method"], r["seed"]) for r in again]
    assert len(set(keys)) == 4
    assert {(r["method"], r["seed"]): r["r1"] for r in again} == {
        (r["method"], r["seed"]): r["r1"] for r in map(json.loads, lines)
    }
    # a drift-reset variant is a separate cell in the same table
    drift = run_scenario(enc, ds, chosen, ["tcr"], [0], tmp_path, reset="drift", **kwargs)
    assert len(drift) == 5 and drift[-1]["shift"] == "continual×2 reset=drift"
    assert "| tcr reset=drift |" in (tmp_path / "scenarios.md").read_text()


def test_diverse_text_scenario_end_to_end(tmp_path, one_thread):
    ds = toy_dataset()
    styles = {
        s: [f"{t}, {s}" for t in ds.texts]
        for s in ("formal", "casual", "passive", "active", "back_translation")
    }
    data = RetrievalDataset(
        ds.name, ds.images, ds.texts, ds.image_groups, ds.text_groups, text_variants=styles
    )
    rows = run_scenario(
        ToyDualEncoder.build(),
        data,
        scenario("diverse", "t2i"),
        ["tcr", "tcr-gd"],
        [0],
        tmp_path,
        batch_size=B,
        hparams={"projection": "none"},  # tcr-gd only measures: the angles of plain TCR's gradients
        queries=B,
    )
    tcr, measured = rows
    assert tcr["direction"] == "t2i" and tcr["shift"] == "diverse" and tcr["queries"] == 15 * B
    assert tcr["segments"] == {"mixed": pytest.approx(tcr["r1"], abs=1e-3)}
    assert "round_r1" not in tcr and tcr["probe_r1"] is not None
    assert (tcr["variant"], measured["variant"]) == ("tcr", "tcr-gd projection=none")
    # same updates up to rounding: autograd.grad (tcr-gd) and backward (tcr) differ in the last
    # bits, which Adam's first steps can turn into +-lr on near-zero gradients (measured: 6e-4
    # max parameter difference after step 0); on the toy's fixed inputs no top-1 flips
    assert [p["r1"] for p in tcr["series"]] == [p["r1"] for p in measured["series"]]
    assert measured["angle_stats"]["steps_measured"] > 0
    md = (tmp_path / "scenarios.md").read_text()
    assert "| tcr | " in md and "| tcr-gd projection=none | " in md
    assert (tmp_path / "stream-diverse-t2i.png").stat().st_size > 0


def test_cli_scenario_run_prints_the_table(tmp_path, monkeypatch, capsys):
    import qshift.api

    monkeypatch.setattr(qshift.api, "resolve", lambda model, data: (ToyDualEncoder.build(), toy_dataset()))
    flags = (
        "--scenario gradual --direction i2t --methods source --batch-size 8 --i2t-queries 8 --probe-every 8"
    )
    argv = ["bench", *flags.split(), "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "### gradual i2t (probe every 8 batches)" in out and "| source |" in out
    (row,) = map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())
    assert row["model"] == "scenes" and row["queries"] == 16 * 9 * 8 and row["probe_every"] == 8


@pytest.mark.parametrize("entries", [3, 14])
def test_legend_never_covers_the_curves_and_stays_in_the_figure(entries):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qshift.results.plots import place_legend

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k in range(entries):
        ax.plot(range(40), [k] * 40, label=f"variant {k}")
    place_legend(ax, entries)
    fig.tight_layout()
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    figure = fig.bbox
    assert figure.x0 <= legend.x0 and legend.x1 <= figure.x1 and legend.y0 >= figure.y0
    if entries > 6:  # many entries: beside the axes, not over them
        assert legend.x0 >= ax.get_window_extent().x1
    plt.close(fig)


@pytest.mark.parametrize("count", [3, 10, 14, 20])
def test_plot_series_get_distinct_colours(count):
    from qshift.results.plots import series_colours

    colours = series_colours(count)
    assert len(colours) == count and len(set(colours)) == count


def test_a_stream_plot_gives_every_variant_its_own_colour(tmp_path, monkeypatch):
    """More variants than matplotlib's default cycle (10) still get distinct line colours."""
    import matplotlib.pyplot as plt

    from qshift.results import plots

    drawn = []
    monkeypatch.setattr(plt, "close", lambda fig=None: drawn.append(fig))
    series = [
        {"i": i, "probe": i % 4 == 3, "r1": 40.0 + i, "source_r1": 40.0, "label": "gaussian_noise@5"}
        for i in range(8)
    ]
    stream = {"stream": "continualx1", "direction": "i2t", "seed": 0, "series": series}
    rows = [{"variant": f"m{k}", "method": f"m{k}", **stream} for k in range(14)]
    plots.plot_stream(rows, tmp_path / "stream.png")
    lines = [line for line in drawn[-1].axes[0].get_lines() if line.get_linestyle() == "-"]
    assert len(lines) == 14
    assert len({line.get_color() for line in lines}) == 14
