"""The ``qshift`` command line: one module per command, on top of the library.

User errors (bad flag values, missing files, malformed annotations) end with exit code 2 and
one line on stderr; no traceback. A library :class:`~qshift.errors.ParameterError` names its
parameter, and the line names the flag that carries it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: the sub-command modules, each with ``register(subparsers)``
COMMANDS = (
    "qshift.cli.run",
    "qshift.cli.bench",
    "qshift.cli.demo",
    "qshift.cli.shift",
    "qshift.cli.pretrain",
    "qshift.cli.pretrain_av",
    "qshift.cli.reproduce",
    "qshift.cli.list",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``qshift`` parser with every sub-command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="qshift", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version", action="version", version=f"qshift {importlib.import_module('qshift').__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def error_line(err: BaseException, parser: argparse.ArgumentParser | None) -> str:
    """The one-line message of a user error, prefixed with the flag of a named parameter."""
    text = str(err).strip()
    message = text.splitlines()[0] if text else type(err).__name__
    param = getattr(err, "param", None)
    if param and parser is not None:
        flag = "--" + param.replace("_", "-")
        known = {option for action in parser._actions for option in action.option_strings}
        if flag in known and not message.startswith(flag):
            message = f"{flag}: {message}"
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qshift`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"qshift: error: {error_line(err, getattr(args, 'parser', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qshift: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`qshift list | head`): nothing left to say
        sys.stderr.close()
        return 0
