"""``qshift bench``: a resumable matrix of shifts × methods × seeds, or a long-stream scenario."""

from __future__ import annotations

import argparse
from pathlib import Path

from qshift.cli.common import add_command, comma_list, parse_hparams, parse_methods, parse_seeds
from qshift.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "bench", cmd_bench)
    parser.add_argument("--suite", default=None, help="a registered suite (qshift list), e.g. scenes-qs")
    parser.add_argument("--shifts", default=None, help="comma list NAME@SEV (instead of --suite)")
    parser.add_argument("--direction", default=None, help="task for --shifts or --scenario (i2t, t2i, …)")
    streams = parser.add_argument_group("long-stream scenarios (instead of --suite / --shifts)")
    streams.add_argument(
        "--scenario",
        default=None,
        help="diverse | continual | gradual | temporal (video queries): a long stream with probes",
    )
    streams.add_argument("--rounds", type=int, default=None, help="rounds of the continual scenario (3)")
    streams.add_argument(
        "--probe-every", type=int, default=None, help="a clean probe batch every n batches (4)"
    )
    streams.add_argument("--reset", default=None, help="continual (default), episodic, N, drift or drift:K")
    parser.add_argument("--model", default="scenes")
    parser.add_argument("--dataset", default="scenes")
    parser.add_argument("--methods", default="all", help="comma list, or all")
    parser.add_argument("--seeds", default="0", help="comma list of stream seeds, e.g. 0,1,2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--queries", type=int, default=None, help="queries per run of every task (a fixed subset)"
    )
    parser.add_argument(
        "--t2i-queries", type=int, default=None, help="caption queries per t2i run (subset; --scenario: 256)"
    )
    parser.add_argument(
        "--i2t-queries", type=int, default=None, help="image queries per i2t run (subset; --scenario: 256)"
    )
    parser.add_argument(
        "--oracle",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="supervised oracle rows and the headroom share (default: the suite's choice; off for --shifts)",
    )
    parser.add_argument(
        "--oracle-modes",
        default="heldout,transductive",
        help="which oracle rows --oracle fits: heldout (the shares' ceiling), transductive, or both",
    )
    parser.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)


def cmd_bench(args: argparse.Namespace) -> int:
    if sum(flag is not None for flag in (args.suite, args.shifts, args.scenario)) != 1:
        raise UsageError("give exactly one of --suite, --shifts or --scenario")
    methods, seeds = parse_methods(args.methods), parse_seeds(args.seeds)
    if args.scenario is not None:
        return _scenario(args, methods, seeds)
    for flag, value in (
        ("--rounds", args.rounds),
        ("--probe-every", args.probe_every),
        ("--reset", args.reset),
    ):
        if value is not None:
            raise UsageError(f"{flag} applies to --scenario runs only")
    from qshift.bench import run_bench, suite
    from qshift.distributed import is_main
    from qshift.results import markdown_table
    from qshift.shifts.spec import parse_shift

    queries: dict[str, int] = {}
    oracle = bool(args.oracle)
    if args.suite is not None:
        chosen = suite(args.suite)
        model, dataset, cells, queries = chosen.model, chosen.dataset, chosen.cells, dict(chosen.queries)
        oracle = chosen.oracle if args.oracle is None else args.oracle
    else:
        if args.direction is None:
            raise UsageError("--shifts needs --direction (i2t, t2i, …)")
        model, dataset = args.model, args.dataset
        cells = tuple((args.direction, parse_shift(s)) for s in comma_list(args.shifts))
    rows = run_bench(
        model,
        dataset,
        cells,
        methods,
        seeds,
        args.out,
        batch_size=args.batch_size,
        hparams=parse_hparams(args.hparam),
        queries=_query_counts(args, queries, cells),
        workers=args.workers,
        oracle=oracle,
        oracle_modes=comma_list(args.oracle_modes),
    )
    if not is_main():
        return 0
    print(markdown_table(rows))
    print(
        f"results: {args.out / 'results.jsonl'}\ntables:  {args.out / 'table.md'}, {args.out / 'table.csv'}"
    )
    print(f"plots:   {args.out / 'bars.png'}, {args.out / 'geometry.png'}")
    return 0


def _scenario(args: argparse.Namespace, methods: list[str], seeds: list[int]) -> int:
    """``qshift bench --scenario``: a long stream with clean probes; prints the scenario table."""
    from qshift.bench.scenarios import DEFAULT_PROBE_EVERY, SCENARIO_QUERIES, run_scenario, scenario
    from qshift.distributed import is_main
    from qshift.results import scenario_table

    if args.direction is None:
        raise UsageError("--scenario needs --direction (i2t or t2i; v2a or v2t for temporal)")
    chosen = scenario(
        args.scenario,
        args.direction,
        args.rounds,
        DEFAULT_PROBE_EVERY if args.probe_every is None else args.probe_every,
    )
    per_task = {"i2t": args.i2t_queries, "t2i": args.t2i_queries}.get(chosen.direction)
    given = per_task if per_task is not None else args.queries
    rows = run_scenario(
        args.model,
        args.dataset,
        chosen,
        methods,
        seeds,
        args.out,
        batch_size=args.batch_size,
        hparams=parse_hparams(args.hparam),
        reset=args.reset or "continual",
        queries=SCENARIO_QUERIES if given is None else given,
        workers=args.workers,
    )
    if not is_main():
        return 0
    print(scenario_table(rows))
    print(f"results: {args.out / 'results.jsonl'}\ntables:  {args.out / 'scenarios.md'}")
    print(f"plots:   {args.out}/stream-*.png, {args.out}/angles-*.png (tcr-gd)")
    return 0


def _query_counts(args: argparse.Namespace, suite_counts: dict[str, int], cells: tuple) -> dict[str, int]:
    """Queries per run by task: the suite's, then --queries for every task, then the per-task flags."""
    counts = dict(suite_counts)
    if args.queries is not None:
        counts.update({direction: args.queries for direction, _ in cells})
    for task, value in (("t2i", args.t2i_queries), ("i2t", args.i2t_queries)):
        if value is not None:
            counts[task] = value
    return counts
