"""``qshift demo``: the embedded default in a few CPU minutes.

The source model, the strongest baseline, TCR and qshift's own method on the scenes
benchmark, clean and under a few image and text shifts, with the query geometry before and
after; prints a table, writes a plot and says where the files are.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from qshift.shifts.spec import ShiftSpec

#: the strongest of the six baselines: on COCO-C for i2t (method.md §4) and on the scenes val
#: grid, each at its own lr (docs/headroom.md)
BASELINE = "eata"
DEMO_METHODS = ["source", BASELINE, "tcr", "qshift"]
#: clean and shifted cells of both directions; five, so that four methods fit in five minutes
DEMO_CELLS = (
    ("i2t", ShiftSpec("none")),
    ("i2t", ShiftSpec("gaussian_noise", 5)),
    ("i2t", ShiftSpec("motion_blur", 5)),
    ("t2i", ShiftSpec("none")),
    ("t2i", ShiftSpec("formal", 5)),
)
#: queries per cell in the demo (fixed subsets against the whole gallery keep it within minutes)
DEMO_T2I_QUERIES = 500
DEMO_I2T_QUERIES = 500


def plot_demo(rows: list[dict], path: Path) -> Path:
    """R@1 per cell and method (left), uniformity and gap before/after for TCR (right)."""
    from qshift.results import figure

    cells = list(dict.fromkeys(f"{r['direction']} {r['shift']}" for r in rows))
    with figure(path, 1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1.3]}) as (_, (left, right)):
        width = 0.8 / len(DEMO_METHODS)
        for i, method in enumerate(DEMO_METHODS):
            values = {f"{r['direction']} {r['shift']}": r["r1"] for r in rows if r["method"] == method}
            left.bar(
                [j + i * width for j in range(len(cells))],
                [values.get(c, 0.0) for c in cells],
                width,
                label=method,
            )
        left.set_xticks([j + 0.4 - width / 2 for j in range(len(cells))])
        left.set_xticklabels(cells, rotation=30, ha="right", fontsize=8)
        left.set_ylabel("R@1 (%)")
        left.set_title("scenes: clean vs shifted vs adapted")
        left.legend(fontsize=8)
        tcr = [r for r in rows if r["method"] == "tcr" and r["shift"] != "none"]
        for k, name in enumerate(("uniformity", "gap")):
            before = statistics.fmean(r[f"{name}_before"] for r in tcr)
            after = statistics.fmean(r[f"{name}_after"] for r in tcr)
            right.bar([k - 0.2], [before], 0.4, color="tab:gray", label="source" if k == 0 else None)
            right.bar([k + 0.2], [after], 0.4, color="tab:green", label="TCR" if k == 0 else None)
        right.set_xticks([0, 1])
        right.set_xticklabels(["uniformity ↑", "modality gap ↓"])
        right.set_title("query geometry under shift")
        right.legend(fontsize=8)
    return path


def run_demo(out: Path, workers: int = 2) -> list[dict]:
    """Run the demo cells (resumable in ``out``), write the plot, and return the rows."""
    from qshift.bench import run_bench

    rows = run_bench(
        "scenes",
        "scenes",
        DEMO_CELLS,
        DEMO_METHODS,
        [0],
        out,
        t2i_queries=DEMO_T2I_QUERIES,
        i2t_queries=DEMO_I2T_QUERIES,
        workers=workers,
        plots=False,
    )
    plot_demo(rows, out / "demo.png")
    return rows


def demo_report(rows: list[dict], out: Path) -> str:
    """The table, TCR's geometry per shifted cell, and where the files are."""
    from qshift.results import markdown_table

    lines = [
        "",
        "R@1 (%) on the scenes test split (fixed subsets of 500 image and 500 caption queries"
        " against the whole 5,000-caption / 1,000-image galleries):",
        "",
        markdown_table(rows),
        "geometry (TCR runs, mean over shifted cells): uniformity / modality gap",
    ]
    for row in rows:
        if row["method"] == "tcr" and row["shift"] != "none":
            lines.append(
                f"  {row['direction']} {row['shift']:<18} uniformity {row['uniformity_before']:.3f} → "
                f"{row['uniformity_after']:.3f}   gap {row['gap_before']:.3f} → {row['gap_after']:.3f}"
            )
    lines.append(f"\nfiles: {out / 'demo.png'}  {out / 'table.md'}  {out / 'results.jsonl'}")
    return "\n".join(lines)
