"""The append-only, resumable result store and the one key that identifies a result cell.

``results.jsonl`` holds one JSON object per finished cell. A killed run leaves at most a
truncated last line, which is dropped on the next load; finished cells are recognised by
their key, so a rerun neither redoes nor duplicates them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

KEY_FIELDS = ("model", "dataset", "direction", "shift", "method", "seed", "hparams")


def cell(
    model: str, dataset: str, direction: str, shift: str, method: str, seed: int, hparams: str | None
) -> dict[str, Any]:
    """The identifying fields of a result cell, as every row stores them."""
    return {
        "model": model,
        "dataset": dataset,
        "direction": direction,
        "shift": shift,
        "method": method,
        "seed": seed,
        "hparams": hparams,
    }


def cell_key(row: dict[str, Any]) -> tuple:
    """Identity of a result cell: what was run, not what came out."""
    return tuple(json.dumps(row.get(k), sort_keys=True) for k in KEY_FIELDS)


class ResultStore:
    """``results.jsonl`` with crash-safe appends and key-based resume."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = self._load()
        self.keys = {cell_key(r) for r in self.rows}

    def _load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows, good_bytes = [], 0
        with self.path.open("rb") as handle:
            for raw in handle:
                try:
                    rows.append(json.loads(raw))
                except json.JSONDecodeError:
                    break  # a line cut short by a kill: drop it and what follows
                good_bytes += len(raw)
        if good_bytes != self.path.stat().st_size:
            with self.path.open("r+b") as handle:
                handle.truncate(good_bytes)
        return rows

    def has(self, row: dict[str, Any]) -> bool:
        return cell_key(row) in self.keys

    def append(self, row: dict[str, Any]) -> None:
        """Add one finished cell durably (flushed and fsynced before returning)."""
        if self.has(row):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.rows.append(row)
        self.keys.add(cell_key(row))
