"""Reading JSON annotation files: a list of entries whose fields are checked one by one.

Every error names the file, and for a bad entry its index and the field, so a user can fix a
malformed annotation without a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: str | Path, expected: type = list, what: str = "annotation") -> Any:
    """A JSON file whose top level is a non-empty ``expected`` (list or dict); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a valid JSON file ({err})") from err
    noun = "list of entries" if expected is list else expected.__name__
    if not isinstance(data, expected):
        raise ValueError(f"{path}: expected a JSON {noun}, got a {type(data).__name__}")
    if not data:
        raise ValueError(f"{path}: the {what} is empty")
    return data


def read_json_list(path: str | Path) -> list[Any]:
    """Read an annotation file that must hold a non-empty JSON list; errors name the file."""
    return read_json(path, list)


def entry_field(entry: Any, path: Path, index: int, *names: str) -> Any:
    """Value of the first of ``names`` present in annotation ``entry``; errors name file and index."""
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: entry {index} is not a JSON object")
    for name in names:
        if name in entry:
            return entry[name]
    raise ValueError(f"{path}: entry {index} has no field {' or '.join(map(repr, names))}")


def entry_text(entry: Any, path: Path, index: int, *names: str) -> str:
    """A non-empty string field of an annotation entry."""
    value = entry_field(entry, path, index, *names)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{path}: entry {index} field {names[0]!r} must be a non-empty string")
    return value


def entry_captions(entry: Any, path: Path, index: int, *names: str) -> list[str]:
    """The caption(s) of an entry: a string or a non-empty list of strings."""
    value = entry_field(entry, path, index, *names)
    captions = [value] if isinstance(value, str) else value
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise ValueError(f"{path}: entry {index} field {names[0]!r} must be a string or a list of strings")
    if not captions:
        raise ValueError(f"{path}: entry {index} field {names[0]!r} has no captions")
    return captions
