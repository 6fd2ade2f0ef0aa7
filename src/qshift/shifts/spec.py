"""Parsing of shift specifications such as ``gaussian_noise@5``, ``image:fog@3`` or ``none``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShiftSpec:
    """One shift at one severity; ``name == "none"`` means clean queries.

    ``part`` names the modality a shift applies to inside a composed query (``image:NAME@SEV``
    shifts a CIR query's reference image, ``text:NAME@SEV`` its modification text); None for a
    single-modality query.
    """

    name: str
    severity: int = 0
    part: str | None = None

    @property
    def is_clean(self) -> bool:
        return self.name == "none"

    def __str__(self) -> str:
        if self.is_clean:
            return "none"
        prefix = f"{self.part}:" if self.part else ""
        return f"{prefix}{self.name}@{self.severity}"


def parse_shift(spec: str | ShiftSpec | None, default_severity: int = 5) -> ShiftSpec:
    """Parse ``[PART:]NAME@SEV`` (severity defaults to ``default_severity``) or ``none``."""
    if spec is None:
        return ShiftSpec("none")
    if isinstance(spec, ShiftSpec):
        return spec
    text = spec.strip()
    if text in ("", "none", "clean"):
        return ShiftSpec("none")
    head, _, sev = text.partition("@")
    part, colon, name = head.partition(":")
    if not colon:
        part, name = "", head
    if not name or (colon and not part):
        raise ValueError(f"bad shift {spec!r}: expected NAME@SEV or PART:NAME@SEV, as in image:fog@5")
    if not sev:
        return ShiftSpec(name, default_severity, part or None)
    try:
        severity = int(sev)
    except ValueError:
        raise ValueError(f"bad shift {spec!r}: severity must be an integer, as in gaussian_noise@5") from None
    if severity < 1:
        raise ValueError(f"bad shift {spec!r}: severity must be >= 1")
    return ShiftSpec(name, severity, part or None)
