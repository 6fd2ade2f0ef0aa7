"""Corrupted copies of a dataset's media files: the run shared by ``qshift shift audio`` and ``video``.

The source is a dataset's item collection of one modality (:class:`MediaSource`, as
:class:`qshift.data.av_files.MediaFiles` provides it): items in dataset order, each a record
that loads the item as the query stream sees it, saves a copy of it and names that copy. Item
``i`` is shifted with :func:`qshift.utils.seeds.item_seed` ``(seed, i, shift, severity)`` and the
collection's ``shift_options`` (the audio rate), as the query stream does, and written to::

    <out>/<Prefix>_<tag>_<shift>_<severity>/<copy name>

so the copy folder replaces the media root in the dataset spec and the item read back from it
is the on-the-fly shifted item (exactly, for lossless formats). Runs are resumable and recorded
in ``<out>/manifest.json`` like the image copies (:mod:`qshift.shifts.export`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

import qshift.shifts
from qshift.shifts.export.kinds import check_run_args, parse_severities, parse_shifts
from qshift.shifts.export.manifest import Manifest
from qshift.shifts.export.runs import Outputs, begin_run, execute
from qshift.shifts.export.workers import chunk_size, one_opencv_thread
from qshift.utils.io import write_atomic
from qshift.utils.seeds import item_seed

#: items per job at most (each is written once per (shift, severity))
_CHUNK_CAP = 4


class MediaItem(Protocol):
    """One item on disk: loads itself, saves a copy, names the copy."""

    copy_name: str

    def load(self) -> np.ndarray: ...

    def save(self, path: Path, item: np.ndarray) -> None: ...


class MediaSource(Protocol):
    """A dataset's items of one modality, read from files."""

    modality: str
    files: Sequence[MediaItem]
    listing: Path
    prefix: str
    shift_options: dict[str, Any]


def media_folder(prefix: str, tag: str, shift: str, severity: int) -> str:
    """Name of the folder holding the items corrupted by ``shift`` at ``severity``."""
    return f"{prefix}_{tag}_{shift}_{severity}"


def build_media(
    source: MediaSource,
    out: str | Path,
    tag: str,
    shifts: str | Sequence[str] | None = None,
    severities: str | Sequence[int] | None = None,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    *,
    progress: bool = True,
) -> Manifest:
    """Write corrupted copies of the first ``limit`` items of ``source`` under ``out`` (module doc).

    With ``workers > 1`` the work runs in "spawn" processes, so a script calling this must guard
    its entry point with ``if __name__ == "__main__":``.
    """
    out = Path(out)
    modality = source.modality
    shift_names = parse_shifts(shifts, modality)
    levels = parse_severities(severities, modality)
    check_run_args(seed, workers, limit)
    items = list(enumerate(source.files))[:limit]
    pairs = tuple((s, v) for s in shift_names for v in levels)
    folders = {
        media_folder(source.prefix, tag, s, v): {"shift": s, "severity": v, "items": len(items)}
        for s, v in pairs
    }
    settings = {
        "seed": seed,
        "shifts": shift_names,
        "severities": levels,
        "shift_options": dict(source.shift_options),
        "limit": limit,
        "workers": workers,
    }
    run = begin_run(out, modality, source.listing, folders, settings)
    size = chunk_size(len(items), workers, cap=_CHUNK_CAP)
    jobs = [
        _MediaJob(
            str(out),
            source.prefix,
            tag,
            modality,
            seed,
            pairs,
            dict(source.shift_options),
            tuple(items[i : i + size]),
        )
        for i in range(0, len(items), size)
    ]
    bar = tqdm(
        total=len(items) * len(pairs), unit="file", disable=not progress, desc=f"qshift shift {modality}"
    )
    return execute(run, _corrupt, jobs, workers, bar, _outputs, setup=one_opencv_thread)


@dataclass(frozen=True)
class _MediaJob:
    """A chunk of (index, item) pairs, each written for every (shift, severity)."""

    out: str
    prefix: str
    tag: str
    modality: str
    seed: int
    pairs: tuple[tuple[str, int], ...]
    options: dict[str, Any]
    items: tuple[tuple[int, MediaItem], ...]


def _corrupt(job: _MediaJob) -> list[tuple[str, bool]]:
    """Write the missing copies of a chunk, loading each item once; report (folder, written?)."""
    results: list[tuple[str, bool]] = []
    for index, item in job.items:
        clean: np.ndarray | None = None
        for shift, severity in job.pairs:
            folder = media_folder(job.prefix, job.tag, shift, severity)
            dest = Path(job.out) / folder / item.copy_name
            written = not dest.is_file()
            if written:
                clean = item.load() if clean is None else clean
                seed = item_seed(job.seed, index, shift, severity)
                shifted = qshift.shifts.apply(
                    shift, clean, severity, seed, modality=job.modality, **job.options
                )
                write_atomic(dest, partial(item.save, item=shifted))
            results.append((folder, written))
    return results


def _outputs(result: list[tuple[str, bool]]) -> Outputs:
    """A job's outputs, one progress unit each."""
    return result, len(result)
