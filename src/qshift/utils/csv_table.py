"""Reading CSV annotation files: rows as dicts keyed by the header, errors naming file, line and column."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CsvRow:
    """One data row: its cells by column name and its line number in the file (for errors)."""

    path: Path
    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        """The stripped cell of ``column``; ValueError naming file, line and column when it is empty."""
        value = (self.cells.get(column) or "").strip()
        if not value:
            raise ValueError(f"{self.path}: line {self.line} has an empty {column!r}")
        return value


def open_rows(path: str | Path) -> list[tuple[int, list[str]]]:
    """Every non-blank row of a CSV file as (line number, cells), spaces after commas skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            rows = [(reader.line_num, row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    return [(line, row) for line, row in rows if any(cell.strip() for cell in row)]


def read_table(path: str | Path, required: tuple[str, ...] = ()) -> tuple[list[str], list[CsvRow]]:
    """(header, rows) of a CSV file whose first row names the columns; ValueError naming the file
    when it holds no rows or lacks a ``required`` column."""
    path = Path(path)
    rows = open_rows(path)
    if not rows:
        raise ValueError(f"{path}: the CSV file is empty")
    header = [cell.strip() for cell in rows[0][1]]
    missing = [column for column in required if column not in header]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]!r} in the header (columns: {', '.join(header)})")
    table = [CsvRow(path, line, dict(zip(header, cells, strict=False))) for line, cells in rows[1:]]
    if not table:
        raise ValueError(f"{path}: the CSV file has a header but no rows")
    return header, table
