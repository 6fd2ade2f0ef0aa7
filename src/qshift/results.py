"""Append-only, resumable result store; paper-style tables (markdown, CSV); plots.

``results.jsonl`` holds one JSON object per finished cell. A killed run leaves at most a
truncated last line, which is dropped on the next load; finished cells are recognised by
their key, so a rerun neither redoes nor duplicates them.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

KEY_FIELDS = ("model", "dataset", "direction", "shift", "method", "seed", "hparams")


def cell_key(row: dict[str, Any]) -> tuple:
    """Identity of a result cell: what was run, not what came out."""
    return tuple(json.dumps(row.get(k), sort_keys=True) for k in KEY_FIELDS)


class ResultStore:
    """``results.jsonl`` with crash-safe appends and key-based resume."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = self._load()
        self.keys = {cell_key(r) for r in self.rows}

    def _load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows, good_bytes = [], 0
        with self.path.open("rb") as handle:
            for raw in handle:
                try:
                    rows.append(json.loads(raw))
                except json.JSONDecodeError:
                    break  # a line cut short by a kill: drop it and what follows
                good_bytes += len(raw)
        if good_bytes != self.path.stat().st_size:
            with self.path.open("r+b") as handle:
                handle.truncate(good_bytes)
        return rows

    def has(self, row: dict[str, Any]) -> bool:
        return cell_key(row) in self.keys

    def append(self, row: dict[str, Any]) -> None:
        """Add one finished cell durably (flushed and fsynced before returning)."""
        if self.has(row):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.rows.append(row)
        self.keys.add(cell_key(row))


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


def markdown_table(rows: Iterable[dict[str, Any]], metric: str = "r1") -> str:
    """One markdown table per direction: rows methods, columns shifts, then Avg."""
    parts = []
    for direction, data in pivot(rows, metric).items():
        header = ["Method", *data["shifts"]]
        lines = [
            f"### {direction} {metric.upper()}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for method in data["methods"]:
            cells = [
                _fmt(*data["table"][method][s]) if s in data["table"][method] else "–" for s in data["shifts"]
            ]
            lines.append("| " + " | ".join([method, *cells]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_tables(rows: Sequence[dict[str, Any]], out_dir: Path, metric: str = "r1") -> tuple[Path, Path]:
    """``table.md`` and ``table.csv`` (one row per direction × method, mean and std columns)."""
    md_path, csv_path = out_dir / "table.md", out_dir / "table.csv"
    md_path.write_text(markdown_table(rows, metric))
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for direction, data in pivot(rows, metric).items():
            writer.writerow(
                ["direction", "method", *[f"{s}{suffix}" for s in data["shifts"] for suffix in ("", " std")]]
            )
            for method in data["methods"]:
                values = []
                for s in data["shifts"]:
                    mean, std, _ = data["table"][method].get(s, (float("nan"), float("nan"), 0))
                    values += [f"{mean:.4f}", f"{std:.4f}"]
                writer.writerow([direction, method, *values])
    return md_path, csv_path


_LEGEND_INSIDE_MAX = 6


def _place_legend(ax: Any, entries: int) -> None:
    """Legend inside the axes for a few entries; beside them, in one column, for more.

    With a dozen methods or variants an inside legend covers the bars and curves it explains.
    """
    if entries <= _LEGEND_INSIDE_MAX:
        ax.legend(fontsize=7, ncol=min(3, entries))
    else:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def plot_bars(rows: Sequence[dict[str, Any]], path: Path, metric: str = "r1") -> Path:
    """Grouped bars: per shift, one bar per method (one panel per direction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = pivot(rows, metric)
    fig, axes = plt.subplots(
        len(data),
        1,
        figsize=(max(8, 0.9 * max(len(d["shifts"]) for d in data.values())), 3.6 * len(data)),
        squeeze=False,
    )
    for ax, (direction, d) in zip(axes[:, 0], data.items(), strict=True):
        width = 0.8 / max(1, len(d["methods"]))
        for i, method in enumerate(d["methods"]):
            xs = [j + i * width for j, s in enumerate(d["shifts"]) if s in d["table"][method]]
            ys = [d["table"][method][s][0] for s in d["shifts"] if s in d["table"][method]]
            errs = [d["table"][method][s][1] for s in d["shifts"] if s in d["table"][method]]
            ax.bar(xs, ys, width, yerr=errs, label=method)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(d["shifts"]))])
        ax.set_xticklabels(d["shifts"], rotation=45, ha="right", fontsize=8)
        ax.set_ylabel(f"{metric.upper()} (%)")
        ax.set_title(f"{direction}: {metric.upper()} per shift")
        _place_legend(ax, len(d["methods"]))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_geometry(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Uniformity and modality gap before vs after adaptation, averaged over shifts, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("uniformity_before") is not None:
            groups[(row["direction"], row["method"])].append(row)
    labels = [f"{m}\n{d}" for d, m in groups]
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 0.7 * len(labels) * 2), 4))
    for ax, name in zip(axes, ("uniformity", "gap"), strict=True):
        before = [statistics.fmean(r[f"{name}_before"] for r in g) for g in groups.values()]
        after = [statistics.fmean(r[f"{name}_after"] for r in g) for g in groups.values()]
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], before, 0.4, label="before (source)")
        ax.bar([x + 0.2 for x in xs], after, 0.4, label="after adaptation")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_title(
            "query uniformity (higher = more spread)"
            if name == "uniformity"
            else "modality gap (lower = closer)"
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -- scenario suites (``qshift bench --scenario``, issue 7) -----------------------------------------
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


def _variants(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
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
        for variant, runs in _variants(group).items():
            cells = [_scenario_cell(runs, field) for _, field in columns]
            lines.append("| " + " | ".join([variant, *cells]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_scenario_tables(rows: Sequence[dict[str, Any]], out_dir: Path) -> Path:
    """``scenarios.md``: :func:`scenario_table` of every scenario row."""
    path = out_dir / "scenarios.md"
    path.write_text(scenario_table(rows))
    return path


def _segment_ticks(labels: Sequence[str], limit: int = 48) -> list[tuple[int, str]]:
    """(index, label) where the label changes; past ``limit`` ticks, where the shift name changes."""

    def changes(names: Sequence[str]) -> list[tuple[int, str]]:
        return [(i, name) for i, name in enumerate(names) if i == 0 or name != names[i - 1]]

    ticks = changes(labels)
    return ticks if len(ticks) <= limit else changes([label.split("@")[0] for label in labels])


def plot_stream(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """R@1 of every adapted batch over one stream, per method (mean over seeds), probes as markers.

    Filled markers: the adapted model on the clean probe batches; black crosses: the source
    model on the same probes. Ticks mark where the batches' shift label changes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def mean_series(runs: Sequence[dict[str, Any]], probe: bool, key: str = "r1") -> tuple[list, list]:
        per_index: dict[int, list[float]] = defaultdict(list)
        for run in runs:
            for point in run["series"]:
                if point["probe"] == probe and key in point:
                    per_index[point["i"]].append(point[key])
        xs = sorted(per_index)
        return xs, [statistics.fmean(per_index[x]) for x in xs]

    variants = _variants(rows)
    length = max(len(r["series"]) for r in rows)
    fig, ax = plt.subplots(figsize=(min(24, max(8, 0.06 * length)), 4.5))
    for variant, runs in variants.items():
        (line,) = ax.plot(*mean_series(runs, False), linewidth=1, label=variant)
        ax.plot(*mean_series(runs, True), "o", markersize=4, color=line.get_color(), markeredgecolor="k")
    first = next(iter(variants.values()))
    ax.plot(*mean_series(first, True, "source_r1"), "kx", markersize=5, label="source model on probes")
    labels = [p["label"] for p in rows[0]["series"] if not p["probe"]]
    positions = [p["i"] for p in rows[0]["series"] if not p["probe"]]
    ticks = _segment_ticks(labels)
    ax.set_xticks([positions[i] for i, _ in ticks])
    ax.set_xticklabels([label for _, label in ticks], rotation=90, fontsize=6)
    for i, _ in ticks[1:]:
        ax.axvline(positions[i] - 0.5, color="0.85", linewidth=0.5, zorder=0)
    ax.set_ylabel("R@1 (%)")
    seeds = len({r["seed"] for r in rows})
    ax.set_title(f"{rows[0]['stream']} {rows[0]['direction']}: R@1 per batch (mean of {seeds} seed(s))")
    _place_legend(ax, len(variants) + 1)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_angles(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Histogram of the measured gradient angles (g_a vs g_k) per method, seeds pooled; 90° marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for variant, runs in _variants(rows).items():
        angles = [a for run in runs for a in run.get("angles") or ()]
        if angles:
            over = 100 * sum(a > 90 for a in angles) / len(angles)
            label = f"{variant}: {over:.0f}% > 90°, mean {statistics.fmean(angles):.1f}°"
            ax.hist(angles, bins=range(0, 181, 5), alpha=0.6, label=label)
    ax.axvline(90, color="k", linestyle="--", linewidth=1)
    ax.set_xlabel("angle between adaptation and knowledge gradients (°)")
    ax.set_ylabel("steps")
    ax.set_title(f"{rows[0]['stream']} {rows[0]['direction']}: gradient angles")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
