"""Named benchmark matrices (``qshift bench --suite``): a model, a dataset and their cells.

A suite is a registry entry (kind ``suite``) pointing to a function that returns a
:class:`Suite`; adding one is a function here (or in a plug-in) and one registry line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qshift import registry
from qshift.errors import ParameterError
from qshift.shifts.spec import ShiftSpec

IMAGE_SEVERITY = 5
TEXT_SEVERITY = 5
#: severity of the audio and video suites
AV_SEVERITY = 5
#: caption queries per t2i run on scenes: one per image keeps the full suite within an hour
SCENES_T2I_QUERIES = 1000

Cells = tuple[tuple[str, ShiftSpec], ...]


@dataclass(frozen=True)
class Suite:
    """A named benchmark matrix: (task, shift) cells on one model and dataset.

    ``queries`` caps the queries per run of a task with a fixed subset (the gallery stays
    whole); a task it does not name runs on all its queries. ``oracle``: the tables carry the
    supervised oracle rows and each method's share of the headroom.
    """

    model: str
    dataset: str
    cells: Cells
    queries: dict[str, int] = field(default_factory=dict)
    oracle: bool = False


def image_cells(task: str = "i2t", severity: int = IMAGE_SEVERITY, part: str | None = None) -> Cells:
    """The 16 image corruptions of ``task`` at ``severity`` (on one ``part`` of a composed query)."""
    from qshift.shifts import names

    return tuple((task, ShiftSpec(n, severity, part)) for n in names("image"))


def text_cells(task: str = "t2i", severity: int = TEXT_SEVERITY, part: str | None = None) -> Cells:
    """The paper's 15 text shifts of ``task`` at ``severity`` (on one ``part`` of a composed query)."""
    from qshift.shifts.text import PAPER_TEXT_SHIFTS

    return tuple((task, ShiftSpec(n, severity, part)) for n in PAPER_TEXT_SHIFTS)


def modality_cells(task: str, modality: str, severity: int = AV_SEVERITY) -> Cells:
    """Every registered shift of ``modality`` (6 audio, 18 video) on ``task`` at ``severity``."""
    from qshift.shifts import names

    return tuple((task, ShiftSpec(n, severity)) for n in names(modality))


def scenes_qs_image() -> Suite:
    """scenes i2t: the 16 image corruptions at severity 5."""
    return Suite("scenes", "scenes", image_cells(), oracle=True)


def scenes_qs_text() -> Suite:
    """scenes t2i: the paper's 15 text shifts at severity 5, on 1,000 caption queries."""
    return Suite("scenes", "scenes", text_cells(), {"t2i": SCENES_T2I_QUERIES}, oracle=True)


def scenes_qs() -> Suite:
    """Both scenes suites in one matrix."""
    return Suite("scenes", "scenes", image_cells() + text_cells(), {"t2i": SCENES_T2I_QUERIES}, oracle=True)


def scenes_cir_image() -> Suite:
    """scenes-cir: the 16 image corruptions at severity 5 on the reference image."""
    return Suite("scenes-cir", "scenes-cir", image_cells("cir", part="image"))


def scenes_cir_text() -> Suite:
    """scenes-cir: the paper's 15 text shifts at severity 5 on the modification text (the
    sentence-level ones are the benchmark's native held-out styles)."""
    return Suite("scenes-cir", "scenes-cir", text_cells("cir", part="text"))


def scenes_av_audio() -> Suite:
    """scenes-av a2v: the 6 audio shifts at severity 5, audio queries against the clips."""
    return Suite("scenes-av", "scenes-av", modality_cells("a2v", "audio"))


def scenes_av_video() -> Suite:
    """scenes-av v2a: the 18 video shifts at severity 5, clip queries against the soundtracks."""
    return Suite("scenes-av", "scenes-av", modality_cells("v2a", "video"))


def suite(name: str) -> Suite:
    """The registered suite ``name`` (``qshift list`` shows them)."""
    if name not in registry.names("suite"):
        raise ParameterError(
            "suite", f"unknown suite {name!r}; available: {', '.join(registry.names('suite'))}"
        )
    return registry.load("suite", name)()
