"""Parsing helpers shared by the sub-commands: hyper-parameters, comma lists, methods, seeds."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from collections.abc import Callable, Sequence
from typing import Any

from qshift.cli.commands import COMMANDS
from qshift.errors import UsageError


def add_command(
    sub: argparse._SubParsersAction, name: str, func: Callable[[argparse.Namespace], int], **kwargs: Any
) -> argparse.ArgumentParser:
    """A sub-command parser whose namespace carries its handler and itself (for error lines);
    its help is the line of :data:`~qshift.cli.commands.COMMANDS` unless given."""
    kwargs.setdefault("help", COMMANDS[name][1] if name in COMMANDS else None)
    parser = sub.add_parser(name, **kwargs)
    parser.set_defaults(func=func, parser=parser)
    return parser


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


def comma_list(text: str) -> list[str]:
    """The non-empty stripped items of a comma list."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_methods(text: str, flag: str = "--methods") -> list[str]:
    """A comma list of registered method names, or ``all``."""
    from qshift.methods import names

    methods = names() if text == "all" else comma_list(text)
    unknown = [m for m in methods if m not in names()]
    if unknown:
        raise UsageError(f"{flag}: unknown method(s) {', '.join(unknown)}; available: {', '.join(names())}")
    return methods


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """A comma list of integer seeds."""
    try:
        return [int(s) for s in comma_list(text)]
    except ValueError:
        raise UsageError(f"{flag} expects a comma list of integers, got {text!r}") from None


def add_config_flags(parser: argparse.ArgumentParser, config: type) -> None:
    """One flag per field of the dataclass ``config``: its default, type, choices and help.

    Booleans are switches that flip the default: ``--no-<name>`` ("without <help>") for a True
    default, ``--<name>`` for a False one. A field typed ``X | None`` takes values of type X.
    """
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help")
        kind = hints[f.name]
        if kind is bool and f.default:
            parser.add_argument(
                "--no-" + flag[2:], dest=f.name, action="store_false", help=f"without {help_text}"
            )
            continue
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", help=help_text)
            continue
        options: dict[str, Any] = {"type": _value_type(kind), "default": f.default, "help": help_text}
        if "choices" in f.metadata:
            options["choices"] = f.metadata["choices"]
        parser.add_argument(flag, **options)


def _value_type(kind: Any) -> type:
    """``int`` for ``int``, ``float`` for ``float | None``: the parser of one flag value."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if args else kind
