"""Video–audio retrieval over local clips listed by an AudioSet / VGGSound style CSV (``a2v``, ``v2a``).

Spec (see :func:`qshift.data.load_dataset`; paths must not contain ``:``):
``avcsv:<clips.csv>:<clip_root>[:<audio_root>]``.

- **The CSV**: one clip per row, ``youtube_id, start_seconds, label`` and optionally a fourth
  ``split`` column, without a header as VGGSound's ``vggsound.csv`` is
  (``---g-f_I2yQ,1,people marching,test``); or with a header naming the columns (``youtube_id``
  or ``YTID``, ``start_seconds``, ``label`` or ``positive_labels``, ``split``), which may be
  a ``#`` comment line as in AudioSet's segment lists. Other ``#`` lines are comments. When a
  split column exists only the ``split`` rows are kept (default ``test``; None keeps all).
- **The clips**: ``<clip_root>/`` + ``file_pattern`` filled with ``youtube_id``, ``start`` (the
  start in whole seconds) and ``label``; default ``{youtube_id}_{start:06d}.mp4``, VGGSound's
  naming. Frames are read lazily as for MSR-VTT (8 frames, 256 / 224; ``frames`` / ``size``).
- **The sound** of a clip: ``<audio_root>/<clip stem>.wav`` when that file exists, else the
  audio stream of ``<audio_root>/<clip file>`` (PyAV); ``audio_root`` defaults to the clip root.
  A corrupted audio copy written by ``qshift shift audio`` is such a ``.wav`` folder, a video
  copy a clip folder without sound: ``avcsv:<csv>:<video copy>:<clip_root>``.
- **Relevance**: by clip (``relevance="clip"``, default: a clip's sound retrieves its own
  frames); ``relevance="label"`` makes clips of one label relevant to each other (a clip must
  then carry one label). Metrics: R@1, R@5, R@10, mAP and the median rank ``medr``.

Rows naming the same clip file are one clip. Missing clips raise FileNotFoundError naming them,
or are left out with ``skip_missing=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qshift.data.av_files import AUDIO_RATE, VIDEO_FRAMES, VIDEO_SIZE, clip_sounds, relative_name, video_files
from qshift.data.base import RetrievalDataset
from qshift.data.karpathy import spec_parts
from qshift.utils.csv_table import open_rows

METRICS = ("medr",)
#: accepted header names per column
COLUMNS = {
    "youtube_id": ("youtube_id", "ytid"),
    "start_seconds": ("start_seconds", "start"),
    "label": ("label", "labels", "positive_labels"),
    "split": ("split",),
}
POSITIONS = ("youtube_id", "start_seconds", "label", "split")
RELEVANCE = ("clip", "label")


@dataclass(frozen=True)
class Clip:
    """One row of the CSV."""

    youtube_id: str
    start: int
    label: str
    split: str | None
    line: int


def _header(cells: list[str]) -> dict[str, int] | None:
    """Column positions when ``cells`` is a header row (it names the YouTube id column), else None."""
    names = [cell.strip().lstrip("#").strip().lower() for cell in cells]
    if names[0] not in COLUMNS["youtube_id"]:
        return None
    found = {key: [i for i, n in enumerate(names) if n in aliases] for key, aliases in COLUMNS.items()}
    return {key: where[0] for key, where in found.items() if where}


def read_clips(path: Path) -> list[Clip]:
    """The clips of an AudioSet / VGGSound style CSV (module doc); errors name file, line and column."""
    columns: dict[str, int] | None = None
    clips: list[Clip] = []
    for line, cells in open_rows(path):
        header = _header(cells)
        if header is not None and not clips:
            columns = header
            continue
        if cells[0].lstrip().startswith("#"):
            continue
        where = columns or {key: i for i, key in enumerate(POSITIONS) if i < len(cells)}
        missing = [key for key in POSITIONS[:3] if key not in where or where[key] >= len(cells)]
        if missing:
            raise ValueError(
                f"{path}: line {line} has no {missing[0]!r} (expected youtube_id, start_seconds, label)"
            )
        values = {key: cells[i].strip() for key, i in where.items() if i < len(cells)}
        for key in POSITIONS[:3]:
            if not values[key]:
                raise ValueError(f"{path}: line {line} has an empty {key!r}")
        try:
            start = float(values["start_seconds"])
        except ValueError:
            raise ValueError(
                f"{path}: line {line} field 'start_seconds' must be a number, got {values['start_seconds']!r}"
            ) from None
        clips.append(Clip(values["youtube_id"], int(start), values["label"], values.get("split"), line))
    if not clips:
        raise ValueError(f"{path}: the CSV lists no clips")
    return clips


def _label_groups(clips: list[Clip], path: Path) -> np.ndarray:
    """One group per label; ValueError for a clip with several (comma-separated) labels."""
    ids: dict[str, int] = {}
    for clip in clips:
        if "," in clip.label:
            raise ValueError(
                f"{path}: line {clip.line} has several labels ({clip.label!r}); "
                "relevance='label' needs one per clip"
            )
        ids.setdefault(clip.label, len(ids))
    return np.asarray([ids[clip.label] for clip in clips])


def load_av_csv(
    csv_path: str | Path,
    clip_root: str | Path,
    audio_root: str | Path | None = None,
    *,
    name: str | None = None,
    split: str | None = "test",
    relevance: str = "clip",
    frames: int = VIDEO_FRAMES,
    size: int | None = VIDEO_SIZE,
    sample_rate: int = AUDIO_RATE,
    file_pattern: str = "{youtube_id}_{start:06d}.mp4",
    skip_missing: bool = False,
) -> RetrievalDataset:
    """Load the clips of an AudioSet / VGGSound style CSV as audio and video items (module doc)."""
    path, root = Path(csv_path), Path(clip_root)
    sound_root = root if audio_root is None else Path(audio_root)
    for folder, what in ((root, "clip"), (sound_root, "audio")):
        if not folder.is_dir():
            raise FileNotFoundError(f"{what} root directory not found: {folder}")
    if relevance not in RELEVANCE:
        raise ValueError(f"relevance must be one of {', '.join(RELEVANCE)}, got {relevance!r}")
    clips = read_clips(path)
    if split is not None and any(clip.split for clip in clips):
        splits = sorted({clip.split or "" for clip in clips})
        clips = [clip for clip in clips if clip.split == split]
        if not clips:
            raise ValueError(f"{path}: no clip of split {split!r} (splits: {', '.join(splits)})")
    by_name: dict[str, Clip] = {}
    for clip in clips:
        try:
            file = file_pattern.format(youtube_id=clip.youtube_id, start=clip.start, label=clip.label)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"file_pattern {file_pattern!r} may name youtube_id, start and label only ({err!r})"
            ) from None
        by_name.setdefault(relative_name(file, path, "clip file"), clip)
    names = list(by_name)
    videos = video_files(root, names, path, path.stem, frames, size)
    sounds = clip_sounds(sound_root, names, path, path.stem, sample_rate)
    kept = sorted(set(videos.existing(skip_missing)) & set(sounds.existing(skip_missing)))
    if not kept:
        raise FileNotFoundError(f"{path}: none of its {len(names)} clips is under {root} with its sound")
    chosen = [by_name[names[i]] for i in kept]
    groups = np.arange(len(kept)) if relevance == "clip" else _label_groups(chosen, path)
    return RetrievalDataset(
        name or path.stem,
        items={"audio": sounds.subset(kept), "video": videos.subset(kept)},
        groups={"audio": groups, "video": groups},
        metrics=METRICS,
    )


def load_av_csv_spec(spec: str, **options: Any) -> RetrievalDataset:
    """Load an ``avcsv:<clips.csv>:<clip_root>[:<audio_root>]`` spec."""
    parts = spec_parts(spec, "avcsv", "avcsv:<clips.csv>:<clip_root>[:<audio_root>]", 2, 1)
    options.setdefault("name", spec)
    return load_av_csv(parts[0], parts[1], parts[2] if len(parts) == 3 else None, **options)
