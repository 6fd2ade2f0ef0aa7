"""Where a composed-retrieval dataset keeps its queries on disk, for writing shifted copies of it.

The CIR loaders (:mod:`qshift.data.fashioniq`, :mod:`qshift.data.cirr`, :mod:`qshift.data.circo`)
describe their queries with a :class:`CirLayout`; ``qshift shift cir``
(:mod:`qshift.shifts.export.cir`) rewrites exactly those annotation entries. Both sides import
this module only, so neither needs the other.

A shifted copy names each query's own (corrupted) reference image in the extra entry field
:data:`REFERENCE_PATH`, relative to the copy's root; the loaders read the reference from there
when the field is present, while the entry's original reference name still decides which gallery
image is the reference (excluded from its own ranking). The gallery is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: entry field of a shifted copy: the query's own reference image, relative to the dataset root
REFERENCE_PATH = "reference_path"


@dataclass(frozen=True)
class QueryEntry:
    """One query: its annotation entry, its reference image and its modification text."""

    #: annotation file holding the entry, relative to the dataset root (POSIX separators)
    file: str
    #: position of the entry in that file's JSON list
    entry: int
    #: the reference image file, relative to the dataset root
    reference: str
    #: the modification text as the loader builds it (FashionIQ: the two captions joined)
    text: str


@dataclass(frozen=True)
class CirLayout:
    """The queries of one loaded CIR dataset, in the loader's query order."""

    #: dataset family, the prefix of a copy's folder name (``FashionIQ``, ``CIRR``, ``CIRCO``)
    family: str
    root: Path
    #: entry field holding the modification text (FashionIQ: ``captions``)
    text_field: str
    #: True when that field is a list of captions (FashionIQ), False for a string
    text_is_list: bool
    queries: tuple[QueryEntry, ...]

    @property
    def files(self) -> list[str]:
        """The annotation files the queries come from, in order of first use."""
        return list(dict.fromkeys(q.file for q in self.queries))


def relative_inside(path: str, where: str) -> str:
    """``path`` with POSIX separators, checked to be relative and to stay inside the root.

    ``where`` names the file and field for the error message.
    """
    clean = PurePosixPath(path.replace("\\", "/"))
    if not path.strip() or clean.is_absolute() or ".." in clean.parts:
        raise ValueError(f"{where}: path {path!r} must be relative and stay inside the dataset root")
    return str(clean)
