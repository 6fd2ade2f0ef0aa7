"""Benchmarks: resumable matrices of shifts × methods × seeds, named suites, long-stream scenarios.

Rows go to ``results.jsonl`` as cells finish (:mod:`qshift.results`); tables and plots are
rewritten from every row.
"""

from qshift.bench.matrix import materialise, method_hparams, query_data, query_subset, run_bench
from qshift.bench.scenarios import SCENARIOS, Scenario, run_scenario, scenario, scenario_shifts
from qshift.bench.suites import Suite, image_cells, suite, text_cells

__all__ = [
    "SCENARIOS",
    "Scenario",
    "Suite",
    "image_cells",
    "materialise",
    "method_hparams",
    "query_data",
    "query_subset",
    "run_bench",
    "run_scenario",
    "scenario",
    "scenario_shifts",
    "suite",
    "text_cells",
]
