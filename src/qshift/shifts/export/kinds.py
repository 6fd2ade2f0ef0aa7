"""Kinds of export, one per query modality, and the parsing of a run's shifts and severities.

Each kind module (``images``, ``texts``, …) registers an :class:`ExportKind` when it is
imported: its modality, its severities and its named groups of shifts. The parsing here reads
that table, so a new modality is one new module and nothing here changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import qshift.shifts
from qshift.errors import ParameterError


@dataclass(frozen=True)
class ExportKind:
    """What the shared parsing knows of one kind of export."""

    modality: str
    severities: tuple[int, ...]
    #: named groups of shifts (``paper``, ``char``, …) → the shift names they stand for
    groups: Mapping[str, Sequence[str]] = field(default_factory=dict)


_KINDS: dict[str, ExportKind] = {}


def register_kind(kind: ExportKind) -> ExportKind:
    """Add a kind of export (called once by its module)."""
    _KINDS[kind.modality] = kind
    return kind


def export_kind(modality: str) -> ExportKind:
    """The registered kind of ``modality``; ValueError naming the kinds there are."""
    if modality not in _KINDS:
        raise ValueError(f"no export for {modality!r} shifts; kinds: {', '.join(_KINDS)}")
    return _KINDS[modality]


def parse_shifts(spec: str | Sequence[str] | None, kind: str) -> list[str]:
    """Shift names from ``a,b,...``, ``all`` or a group of the kind (None: all), without repeats."""
    valid = qshift.shifts.names(kind)
    if spec is None:
        return valid
    groups = export_kind(kind).groups
    chosen: list[str] = []
    for raw in spec.split(",") if isinstance(spec, str) else spec:
        name = raw.strip()
        if not name:
            continue
        expanded = valid if name == "all" else groups.get(name, [name])
        for shift in expanded:
            if shift not in valid:
                raise ParameterError("shifts", f"unknown {kind} shift {shift!r}; valid: {', '.join(valid)}")
            if shift not in chosen:
                chosen.append(shift)
    if not chosen:
        raise ParameterError("shifts", f"no {kind} shift given in {spec!r}")
    return chosen


def parse_severities(spec: str | Sequence[int] | None, kind: str) -> list[int]:
    """Severities from ``1,2,3`` (None: all of the kind), each checked against the kind's range."""
    allowed = export_kind(kind).severities
    if spec is None:
        return list(allowed)
    items: Iterable[Any] = spec.split(",") if isinstance(spec, str) else spec
    chosen: list[int] = []
    for raw in items:
        if isinstance(raw, str) and not raw.strip():
            continue
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ParameterError("severities", f"{raw!r} is not an integer") from None
        if value not in allowed:
            raise ParameterError(
                "severities", f"{value} is outside {allowed[0]}..{allowed[-1]} for {kind} shifts"
            )
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise ParameterError("severities", f"no severity given in {spec!r}")
    return chosen


def check_run_args(seed: int, workers: int, limit: int | None) -> None:
    """Reject a negative seed, fewer than one worker or a non-positive limit."""
    if seed < 0:
        raise ParameterError("seed", f"seed must be >= 0, got {seed}")
    if workers < 1:
        raise ParameterError("workers", f"workers must be >= 1, got {workers}")
    if limit is not None and limit < 1:
        raise ParameterError("limit", f"limit must be >= 1, got {limit}")
