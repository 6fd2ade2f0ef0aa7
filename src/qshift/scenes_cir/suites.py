"""The ``scenes-cir`` bench suites: the reference image corrupted, or the modification text shifted."""

from __future__ import annotations

from qshift.bench.suites import IMAGE_SEVERITY, TEXT_SEVERITY, Cells, Suite
from qshift.shifts.spec import ShiftSpec


def reference_cells(severity: int = IMAGE_SEVERITY) -> Cells:
    """The 16 image corruptions on the reference image of each composed query."""
    from qshift.shifts import names

    return tuple(("cir", ShiftSpec(n, severity, part="image")) for n in names("image"))


def modification_cells(severity: int = TEXT_SEVERITY) -> Cells:
    """The paper's 15 text shifts on the modification text (the sentence-level ones are native styles)."""
    from qshift.shifts.text import PAPER_TEXT_SHIFTS

    return tuple(("cir", ShiftSpec(n, severity, part="text")) for n in PAPER_TEXT_SHIFTS)


def scenes_cir_image() -> Suite:
    """scenes-cir: the 16 image corruptions at severity 5 on the reference."""
    return Suite("scenes-cir", "scenes-cir", reference_cells())


def scenes_cir_text() -> Suite:
    """scenes-cir: the paper's 15 text shifts at severity 5 on the modification text."""
    return Suite("scenes-cir", "scenes-cir", modification_cells())
