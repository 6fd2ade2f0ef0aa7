"""Result rows: the resumable store, paper-style tables and plots.

``results.jsonl`` holds one JSON object per finished cell (:mod:`~qshift.results.store`);
tables (:mod:`~qshift.results.tables`) and plots (:mod:`~qshift.results.plots`) are rewritten
from all rows.
"""

from qshift.results.plots import figure, plot_angles, plot_bars, plot_geometry, plot_stream
from qshift.results.store import KEY_FIELDS, ResultStore, cell, cell_key
from qshift.results.tables import (
    markdown_table,
    pivot,
    scenario_groups,
    scenario_table,
    variants,
    write_scenario_tables,
    write_tables,
)

__all__ = [
    "KEY_FIELDS",
    "ResultStore",
    "cell",
    "cell_key",
    "figure",
    "markdown_table",
    "pivot",
    "plot_angles",
    "plot_bars",
    "plot_geometry",
    "plot_stream",
    "scenario_groups",
    "scenario_table",
    "variants",
    "write_scenario_tables",
    "write_tables",
]
