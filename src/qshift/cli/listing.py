"""``qshift list``: methods, shifts, models, datasets and suites, one line each, from the registry."""

from __future__ import annotations

import argparse

from qshift.cli.common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    add_command(sub, "list", cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from qshift import registry

    for line in registry.listing():
        print(line)
    return 0
