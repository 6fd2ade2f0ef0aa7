"""Paper-style tables of result rows: methods × shifts (markdown, CSV) and the scenario tables."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from qshift.utils.io import write_atomic

#: the bench's supervised upper bounds (rows, never methods): the held-out one is the honest ceiling
ORACLE_HELDOUT = "oracle-heldout"
ORACLE_TRANSDUCTIVE = "oracle-transductive"
ORACLES = (ORACLE_HELDOUT, ORACLE_TRANSDUCTIVE)
#: the column of the share of the headroom each method recovers
SHARE = "Headroom share"


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def _fmt(mean: float, std: float, seeds: int) -> str:
    return f"{mean:.1f} ± {std:.1f}" if seeds > 1 else f"{mean:.1f}"


def pivot(rows: Iterable[dict[str, Any]], metric: str = "r1") -> dict[str, dict[str, Any]]:
    """Per direction: methods × shifts of mean/std over seeds, plus the per-seed average."""
    cells: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    shift_order: dict[str, list[str]] = defaultdict(list)
    method_order: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        direction, shift, method = row["direction"], row["shift"], row["method"]
        cells[(direction, method, shift)][row["seed"]] = row[metric]
        if shift not in shift_order[direction]:
            shift_order[direction].append(shift)
        if method not in method_order[direction]:
            method_order[direction].append(method)
    out: dict[str, dict[str, Any]] = {}
    for direction, shifts in shift_order.items():
        table: dict[str, dict[str, tuple[float, float, int]]] = {}
        for method in method_order[direction]:
            per_shift = {s: cells.get((direction, method, s), {}) for s in shifts}
            entries = {s: (*_mean_std(list(v.values())), len(v)) for s, v in per_shift.items() if v}
            complete_seeds = (
                set.intersection(*(set(v) for v in per_shift.values())) if all(per_shift.values()) else set()
            )
            if complete_seeds:
                averages = [
                    statistics.fmean(per_shift[s][seed] for s in shifts) for seed in sorted(complete_seeds)
                ]
                entries["Avg."] = (*_mean_std(averages), len(averages))
            table[method] = entries
        out[direction] = {"shifts": [*shifts, "Avg."], "methods": method_order[direction], "table": table}
    return out


def headroom_shares(data: dict[str, Any]) -> dict[str, float]:
    """Per method of one pivoted direction: (method − source) / (held-out oracle − source).

    Means over seeds, then over the shifts where source and the held-out oracle both have a
    value (a method missing one of them gets no share). Empty without those two rows or when the
    oracle does not beat the source model.
    """
    table = data["table"]
    if "source" not in table or ORACLE_HELDOUT not in table:
        return {}
    shifts = [
        s for s in data["shifts"] if s != "Avg." and s in table["source"] and s in table[ORACLE_HELDOUT]
    ]
    if not shifts:
        return {}
    source = statistics.fmean(table["source"][s][0] for s in shifts)
    room = statistics.fmean(table[ORACLE_HELDOUT][s][0] for s in shifts) - source
    if room <= 0:
        return {}
    return {
        method: (statistics.fmean(entries[s][0] for s in shifts) - source) / room
        for method, entries in table.items()
        if all(s in entries for s in shifts)
    }


def _label(method: str) -> str:
    """A table row's name: oracle rows say that they are upper bounds."""
    if method == ORACLE_HELDOUT:
        return "oracle, held-out (upper bound)"
    if method == ORACLE_TRANSDUCTIVE:
        return "oracle, transductive (upper bound)"
    return method


def _ordered(methods: Sequence[str]) -> list[str]:
    """Methods first, the oracle rows last."""
    return [m for m in methods if m not in ORACLES] + [m for m in ORACLES if m in methods]


def markdown_table(rows: Iterable[dict[str, Any]], metric: str = "r1") -> str:
    """One markdown table per direction: rows methods, columns shifts, then Avg.

    With the source model and the held-out oracle among the rows, a last column gives each
    method's share of the headroom (:func:`headroom_shares`).
    """
    parts = []
    for direction, data in pivot(rows, metric).items():
        shares = headroom_shares(data)
        header = ["Method", *data["shifts"], *([SHARE] if shares else [])]
        lines = [
            f"### {direction} {metric.upper()}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for method in _ordered(data["methods"]):
            cells = [
                _fmt(*data["table"][method][s]) if s in data["table"][method] else "–" for s in data["shifts"]
            ]
            if shares:
                cells.append(f"{100 * shares[method]:.0f} %" if method in shares else "–")
            lines.append("| " + " | ".join([_label(method), *cells]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_tables(rows: Sequence[dict[str, Any]], out_dir: Path, metric: str = "r1") -> tuple[Path, Path]:
    """``table.md`` and ``table.csv`` (one row per direction × method, mean and std columns)."""
    md_path, csv_path = out_dir / "table.md", out_dir / "table.csv"
    write_atomic(md_path, lambda tmp: tmp.write_text(markdown_table(rows, metric)))
    write_atomic(csv_path, lambda tmp: _write_csv(tmp, rows, metric))
    return md_path, csv_path


def _write_csv(path: Path, rows: Sequence[dict[str, Any]], metric: str) -> None:
    """The CSV form of :func:`markdown_table`: one row per direction × method, mean and std columns."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for direction, data in pivot(rows, metric).items():
            shares = headroom_shares(data)
            columns = [f"{s}{suffix}" for s in data["shifts"] for suffix in ("", " std")]
            writer.writerow(["direction", "method", *columns, *(["headroom share"] if shares else [])])
            for method in _ordered(data["methods"]):
                values = []
                for s in data["shifts"]:
                    mean, std, _ = data["table"][method].get(s, (float("nan"), float("nan"), 0))
                    values += [f"{mean:.4f}", f"{std:.4f}"]
                if shares:
                    values.append(f"{shares[method]:.4f}" if method in shares else "")
                writer.writerow([direction, method, *values])


# -- scenario streams (``qshift bench --scenario``) --------------------------------------------------
#: (header, row field) of the scenario tables
SCENARIO_COLUMNS = (
    ("R@1", "r1"),
    ("first round", "first_round_r1"),
    ("last round", "last_round_r1"),
    ("probe R@1", "probe_r1"),
    ("source probe R@1", "source_probe_r1"),
    ("forgetting", "forgetting"),
    ("drift resets", "drift_resets"),
)
#: extra columns when a run measured gradient angles (tcr-gd)
ANGLE_COLUMNS = (("angles > 90° (%)", "share_over_90"), ("mean angle (°)", "mean_angle"))


def scenario_groups(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Scenario rows by (stream label, direction), in first-seen order; other rows are skipped."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if "stream" in row:
            groups[(row["stream"], row["direction"])].append(row)
    return dict(groups)


def variants(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by table label (method and its non-default settings), in first-seen order."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[row.get("variant", row["method"])].append(row)
    return dict(out)


def _scenario_cell(rows: Sequence[dict[str, Any]], field: str) -> str:
    """Mean ± std over seeds of ``field`` (angle statistics read from ``angle_stats``); – if absent."""
    values = [row[field] if field in row else (row.get("angle_stats") or {}).get(field) for row in rows]
    present = [float(v) for v in values if v is not None]
    return _fmt(*_mean_std(present), len(present)) if present else "–"


def scenario_table(rows: Iterable[dict[str, Any]]) -> str:
    """One markdown table per scenario stream and direction: rows methods, columns the stream's R@1s."""
    parts = []
    for (stream, direction), group in scenario_groups(rows).items():
        columns = SCENARIO_COLUMNS + (ANGLE_COLUMNS if any(r.get("angle_stats") for r in group) else ())
        header = ["Method", *(name for name, _ in columns)]
        lines = [
            f"### {stream} {direction} (probe every {group[0]['probe_every']} batches)",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for variant, runs in variants(group).items():
            cells = [_scenario_cell(runs, field) for _, field in columns]
            lines.append("| " + " | ".join([variant, *cells]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_scenario_tables(rows: Sequence[dict[str, Any]], out_dir: Path) -> Path:
    """``scenarios.md``: :func:`scenario_table` of every scenario row."""
    path = out_dir / "scenarios.md"
    write_atomic(path, lambda tmp: tmp.write_text(scenario_table(rows)))
    return path
