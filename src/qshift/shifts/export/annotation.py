"""The source of an export: the entries of a Karpathy/BLIP annotation, checked before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qshift.utils.annotations import entry_captions, entry_text, read_json_list


def read_entries(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` entries (None: all), each with a string ``image`` and a ``caption``.

    A caption is a string or a list of strings; errors name the file, the entry and the field.
    """
    entries = read_json_list(path)
    entries = entries[:limit] if limit is not None else entries
    for index, entry in enumerate(entries):
        entry_text(entry, path, index, "image")
        entry_captions(entry, path, index, "caption")
    return entries
