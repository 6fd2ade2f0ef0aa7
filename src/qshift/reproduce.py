"""``qshift reproduce``: the paper's COCO-C tables on your own weights, beside the published ones.

Runs the COCO-C query-shift matrix (i2t: the 16 image corruptions at severity 5; t2i: the 15
paper text shifts) with ``qshift bench`` machinery (resumable ``results.jsonl``, tables,
plots), then prints each method's average R@1 next to the numbers published in the TCR paper
(method.md §4). Shifts are applied on the fly with the same functions ``qshift shift`` uses to
write COCO-C copies.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qshift.errors import ParameterError
from qshift.utils.io import write_atomic

#: average R@1 published in Li et al., ICLR 2025 (method.md §4), by backbone and direction
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "blip-b": {
        "i2t": {
            "source": 45.0,
            "tent": 43.0,
            "eata": 49.3,
            "sar": 46.0,
            "read": 46.9,
            "deyo": 48.2,
            "tcr": 59.1,
        },
        "t2i": {"source": 40.9, "best baseline": 41.5, "tcr": 42.3},
    },
    "blip-l": {"i2t": {"source": 51.8, "eata": 54.4, "tcr": 62.0}},
}
PAPER_METHODS = ["source", "tent", "eata", "sar", "read", "deyo", "tcr"]


def averages(rows: list[dict[str, Any]], direction: str) -> dict[str, float]:
    """Mean R@1 over shifts (and seeds) per method, for one direction."""
    per_method: dict[str, list[float]] = {}
    for row in rows:
        if row["direction"] == direction:
            per_method.setdefault(row["method"], []).append(row["r1"])
    return {m: statistics.fmean(v) for m, v in per_method.items()}


def comparison_table(rows: list[dict[str, Any]], published: str | None) -> str:
    """Markdown: per direction, our average R@1 per method beside the published one."""
    reference = PUBLISHED.get(published or "", {})
    parts = []
    for direction in ("i2t", "t2i"):
        ours = averages(rows, direction)
        if not ours:
            continue
        theirs = reference.get(direction, {})
        lines = [
            f"### COCO-C {direction}, average R@1",
            "",
            "| method | yours | published |",
            "|---|---|---|",
        ]
        for method, value in ours.items():
            paper = theirs.get(method)
            lines.append(f"| {method} | {value:.1f} | {'–' if paper is None else f'{paper:.1f}'} |")
        if "best baseline" in theirs:
            baselines = [v for m, v in ours.items() if m not in ("source", "tcr", "tcr-free")]
            best = f"{max(baselines):.1f}" if baselines else "–"
            lines.append(f"| best baseline | {best} | {theirs['best baseline']:.1f} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def reproduce(
    model: str,
    dataset: str,
    out: Path,
    *,
    directions: Sequence[str] = ("i2t", "t2i"),
    methods: Sequence[str] = PAPER_METHODS,
    seeds: Sequence[int] = (0,),
    published: str | None = "blip-b",
    limit_shifts: int | None = None,
    workers: int = 4,
) -> str:
    """Run the COCO-C matrix of ``directions`` (resumable in ``out``) and write ``comparison.md``.

    Returns the comparison table (markdown); ``limit_shifts`` keeps the first N shifts per
    direction for quick tries.
    """
    from qshift.bench import image_cells, run_bench, text_cells

    if not directions or any(d not in ("i2t", "t2i") for d in directions):
        raise ParameterError("directions", f"directions must be i2t, t2i or both; got {list(directions)}")
    cells: tuple = ()
    for direction in directions:
        chosen = image_cells() if direction == "i2t" else text_cells()
        cells += chosen[:limit_shifts] if limit_shifts else chosen
    rows = run_bench(model, dataset, cells, list(methods), list(seeds), out, workers=workers)
    table = comparison_table(rows, published)
    write_atomic(out / "comparison.md", lambda tmp: tmp.write_text(table))
    return table
