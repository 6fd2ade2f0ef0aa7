"""The ``qshift`` command line: run, bench, demo, shift, pretrain, list.

User errors (bad flag values, missing files, malformed annotations) end with exit code 2 and
one line on stderr; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: modules that add their own sub-command through ``register(subparsers)``
SUBCOMMAND_MODULES = (
    "qshift.cli_run",
    "qshift.bench",
    "qshift.demo",
    "qshift.shifts.builder",
    "qshift.pretrain",
    "qshift.reproduce",
)


class UsageError(ValueError):
    """A user error that the CLI reports in one line with exit code 2."""


def parse_value(text: str) -> Any:
    """A hyper-parameter value from the command line: JSON if it parses, else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_hparams(items: Sequence[str]) -> dict[str, Any]:
    """``["lr=1e-3", "steps=1"]`` → ``{"lr": 0.001, "steps": 1}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--hparam expects KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON atomically (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)


def cmd_list(args: argparse.Namespace) -> int:
    """Print methods, shifts, models and datasets, one line each."""
    from qshift import methods, shifts
    from qshift.data import DATASETS
    from qshift.encoders import ENCODERS

    for name in methods.names():
        doc = (methods.get(name).__doc__ or "").strip().splitlines()[0]
        print(f"method   {name:<18} {doc}")
    for kind in ("image", "text"):
        for name in shifts.names(kind):  # type: ignore[arg-type]
            print(f"shift    {name:<18} {kind} shift")
    for spec, doc in ENCODERS.items():
        print(f"model    {spec:<18} {doc}")
    for spec, doc in DATASETS.items():
        print(f"dataset  {spec:<18} {doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qshift", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version", action="version", version=f"qshift {importlib.import_module('qshift').__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(sub)
    listing = sub.add_parser("list", help="methods, shifts, models and datasets, one line each")
    listing.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qshift`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"qshift: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qshift: interrupted", file=sys.stderr)
        return 130
