"""Plots of result rows: bars per shift, query geometry, R@1 over a stream, gradient angles.

Every plot goes through :func:`figure`, which owns the backend, the layout and the file.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qshift.results.tables import pivot, variants

#: figures are written at this resolution
DPI = 120


@contextmanager
def figure(path: Path, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, Any]]:
    """``plt.subplots(*args, **kwargs)`` on the headless backend; laid out, saved and closed on exit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)


_LEGEND_INSIDE_MAX = 6


def series_colours(count: int) -> list[Any]:
    """``count`` distinct colours: matplotlib's tab10 up to ten series, tab20 up to twenty.

    The default cycle repeats after ten, so a table with oracle rows and a dozen methods would
    paint two of them alike.
    """
    from matplotlib import colormaps

    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(count)]


def place_legend(ax: Any, entries: int) -> None:
    """Legend inside the axes for a few entries; beside them, in one column, for more.

    With a dozen methods or variants an inside legend covers the bars and curves it explains.
    """
    if entries <= _LEGEND_INSIDE_MAX:
        ax.legend(fontsize=7, ncol=min(3, entries))
    else:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def plot_bars(rows: Sequence[dict[str, Any]], path: Path, metric: str = "r1") -> Path:
    """Grouped bars: per shift, one bar per method (one panel per direction)."""
    data = pivot(rows, metric)
    with figure(
        path,
        len(data),
        1,
        figsize=(max(8, 0.9 * max(len(d["shifts"]) for d in data.values())), 3.6 * len(data)),
        squeeze=False,
    ) as (_, axes):
        for ax, (direction, d) in zip(axes[:, 0], data.items(), strict=True):
            width = 0.8 / max(1, len(d["methods"]))
            colours = series_colours(len(d["methods"]))
            for i, method in enumerate(d["methods"]):
                xs = [j + i * width for j, s in enumerate(d["shifts"]) if s in d["table"][method]]
                ys = [d["table"][method][s][0] for s in d["shifts"] if s in d["table"][method]]
                errs = [d["table"][method][s][1] for s in d["shifts"] if s in d["table"][method]]
                ax.bar(xs, ys, width, yerr=errs, label=method, color=colours[i])
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(d["shifts"]))])
            ax.set_xticklabels(d["shifts"], rotation=45, ha="right", fontsize=8)
            ax.set_ylabel(f"{metric.upper()} (%)")
            ax.set_title(f"{direction}: {metric.upper()} per shift")
            place_legend(ax, len(d["methods"]))
    return path


def plot_geometry(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Uniformity and modality gap before vs after adaptation, averaged over shifts, per method."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("uniformity_before") is not None:
            groups[(row["direction"], row["method"])].append(row)
    labels = [f"{m}\n{d}" for d, m in groups]
    with figure(path, 1, 2, figsize=(max(8, 0.7 * len(labels) * 2), 4)) as (_, axes):
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

    def mean_series(runs: Sequence[dict[str, Any]], probe: bool, key: str = "r1") -> tuple[list, list]:
        per_index: dict[int, list[float]] = defaultdict(list)
        for run in runs:
            for point in run["series"]:
                if point["probe"] == probe and key in point:
                    per_index[point["i"]].append(point[key])
        xs = sorted(per_index)
        return xs, [statistics.fmean(per_index[x]) for x in xs]

    by_variant = variants(rows)
    length = max(len(r["series"]) for r in rows)
    with figure(path, figsize=(min(24, max(8, 0.06 * length)), 4.5)) as (_, ax):
        colours = series_colours(len(by_variant))
        for colour, (variant, runs) in zip(colours, by_variant.items(), strict=True):
            ax.plot(*mean_series(runs, False), linewidth=1, label=variant, color=colour)
            ax.plot(*mean_series(runs, True), "o", markersize=4, color=colour, markeredgecolor="k")
        first = next(iter(by_variant.values()))
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
        place_legend(ax, len(by_variant) + 1)
    return path


def plot_angles(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Histogram of the measured gradient angles (g_a vs g_k) per method, seeds pooled; 90° marked."""
    with figure(path, figsize=(7, 4)) as (_, ax):
        for variant, runs in variants(rows).items():
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
    return path
