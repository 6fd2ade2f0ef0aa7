"""Parsing of shift specifications such as ``gaussian_noise@5`` or ``none``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShiftSpec:
    """One shift at one severity; ``name == "none"`` means clean queries."""

    name: str
    severity: int = 0

    @property
    def is_clean(self) -> bool:
        return self.name == "none"

    def __str__(self) -> str:
        return "none" if self.is_clean else f"{self.name}@{self.severity}"


def parse_shift(spec: str | ShiftSpec | None, default_severity: int = 5) -> ShiftSpec:
    """Parse ``NAME@SEV`` (severity defaults to ``default_severity``) or ``none``."""
    if spec is None:
        return ShiftSpec("none")
    if isinstance(spec, ShiftSpec):
        return spec
    text = spec.strip()
    if text in ("", "none", "clean"):
        return ShiftSpec("none")
    name, _, sev = text.partition("@")
    if not sev:
        return ShiftSpec(name, default_severity)
    try:
        severity = int(sev)
    except ValueError:
        raise ValueError(f"bad shift {spec!r}: severity must be an integer, as in gaussian_noise@5") from None
    if severity < 1:
        raise ValueError(f"bad shift {spec!r}: severity must be >= 1")
    return ShiftSpec(name, severity)
