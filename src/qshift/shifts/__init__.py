"""Query shifts: 16 image corruptions, 16 text perturbations, and streams that mix them.

``names(kind)`` lists the shifts of a kind; ``apply(name, item, severity, seed)`` applies one
to one item (an H×W×3 uint8 image or a caption) deterministically from ``seed``.
"""

from __future__ import annotations

from typing import Any, Literal

from qshift.shifts.spec import ShiftSpec, parse_shift

Kind = Literal["image", "text"]

__all__ = ["ShiftSpec", "apply", "kind_of", "names", "parse_shift"]


def names(kind: Kind) -> list[str]:
    """The shift names of ``kind`` ("image": 16 corruptions, "text": 16 perturbations)."""
    if kind == "image":
        from qshift.shifts.image import CORRUPTIONS

        return list(CORRUPTIONS)
    if kind == "text":
        from qshift.shifts.text import PERTURBATIONS

        return list(PERTURBATIONS)
    raise ValueError(f"shift kind must be 'image' or 'text', got {kind!r}")


def kind_of(name: str) -> Kind:
    """Whether ``name`` is an image or a text shift; ValueError naming it otherwise."""
    for kind in ("image", "text"):
        if name in names(kind):  # type: ignore[arg-type]
            return kind  # type: ignore[return-value]
    raise ValueError(f"unknown shift {name!r}; see `qshift list` for the available shifts")


def apply(name: str, item: Any, severity: int, seed: int = 0, **options: Any) -> Any:
    """Apply shift ``name`` at ``severity`` to one image or caption, seeded by ``seed``."""
    if kind_of(name) == "image":
        from qshift.shifts.image import corrupt

        return corrupt(name, item, severity, seed)
    from qshift.shifts.text import perturb

    return perturb(name, item, severity, seed, **options)
