"""Atomic file writes: a reader never sees a half-written file, a killed writer leaves no file.

Each file is written to a hidden temporary name in its own folder and moved into place with
``os.replace`` (atomic on POSIX and Windows within one file system).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: suffix of the temporaries; a killed writer's leftovers are recognised by it
TMP_SUFFIX = ".qshift-tmp"


def write_atomic(dest: Path, write: Callable[[Path], None]) -> None:
    """Write ``dest`` through ``write(tmp)`` on a hidden temporary name, then rename it into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(dest: Path, payload: Any, indent: int | None = 2) -> None:
    """Atomically write ``payload`` as UTF-8 JSON (values JSON cannot hold are written as strings)."""
    text = json.dumps(payload, indent=indent, ensure_ascii=False, default=str) + "\n"
    write_atomic(dest, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def remove_temporaries(folder: Path) -> int:
    """Delete the temporaries a killed writer left under ``folder``; return how many."""
    removed = 0
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(TMP_SUFFIX):
                Path(root, name).unlink(missing_ok=True)
                removed += 1
    return removed
