"""``qshift pretrain <target>``: train one of the shipped source models (or a combiner) on the CPU.

Each target is a module of its own with ``register(targets)``; only the chosen one's training
code is imported when it runs.
"""

from __future__ import annotations

import argparse
import importlib

#: target → the module that adds its parser
TARGETS: dict[str, str] = {
    "scenes": "qshift.cli.pretrain_scenes",
    "scenes-cir": "qshift.cli.pretrain_cir",
    "scenes-av": "qshift.cli.pretrain_av",
    "combiner": "qshift.cli.pretrain_combiner",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``qshift pretrain <target>`` for every target of :data:`TARGETS`."""
    from qshift.cli.commands import COMMANDS

    parser = subparsers.add_parser("pretrain", help=COMMANDS["pretrain"][1])
    targets = parser.add_subparsers(dest="target", required=True, metavar="{" + ",".join(TARGETS) + "}")
    for module in TARGETS.values():
        importlib.import_module(module).register(targets)
