"""Audio–text retrieval datasets: AudioCaps and Clotho (tasks ``a2t``, ``t2a``).

Specs (see :func:`qshift.data.load_dataset`; paths must not contain ``:``):

- ``audiocaps:<captions.csv>:<audio_root>``: AudioCaps' public CSV, one row per caption
  (``audiocap_id, youtube_id, start_time, caption``; test: 975 clips × 5 captions). AudioCaps
  ships no audio: the clips are fetched from YouTube by id, so the file of a row is
  ``file_pattern`` filled with the row's fields (default ``{youtube_id}.wav``; e.g.
  ``Y{youtube_id}.wav`` or ``{audiocap_id}.wav`` for other downloads), or the row's
  ``file_name`` when the CSV has that column. Rows naming the same file are one clip.
- ``clotho:<captions.csv>:<audio_root>``: Clotho's CSV, one row per clip
  (``file_name, caption_1, …, caption_5``; evaluation split: 1,045 clips × 5 captions), audio
  in ``<audio_root>/<file_name>``.

Either CSV shape works with either spec (one ``caption`` column with a row per caption, or
``caption_<n>`` columns); the spec only names the dataset. A clip is relevant to its own
captions. Audio is read lazily, mixed to mono and resampled to ``sample_rate`` (16 kHz, the
audio shifts' rate; CLAP resamples to its own rate in its prepare step). Captions are kept
verbatim (stripped). Missing audio files raise FileNotFoundError naming them, or are left out
with ``skip_missing=True`` (AudioCaps downloads usually miss some YouTube clips). Metrics: R@1,
R@5, R@10, mAP and the median rank ``medr``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from qshift.data.av_files import AUDIO_RATE, audio_files, relative_name
from qshift.data.base import RetrievalDataset, owned_texts
from qshift.data.karpathy import spec_parts
from qshift.utils.csv_table import CsvRow, read_table

#: spec kind -> the dataset's name in export folders
PREFIXES = {"audiocaps": "AudioCaps", "clotho": "Clotho"}
METRICS = ("medr",)
_WIDE = re.compile(r"caption_(\d+)")


class _Fields(dict):
    """A row's cells for ``str.format_map``: a named column must be present and non-empty."""

    def __init__(self, row: CsvRow):
        super().__init__()
        self.row = row

    def __missing__(self, column: str) -> str:
        if column not in self.row.cells:
            raise KeyError(column)
        return self.row.get(column)


def file_of(row: CsvRow, header: list[str], pattern: str) -> str:
    """The audio file of a row: its ``file_name`` cell, else ``pattern`` filled with its cells."""
    if "file_name" in header:
        return relative_name(row.get("file_name"), row.path, "audio file")
    try:
        name = pattern.format_map(_Fields(row))
    except (KeyError, IndexError) as err:
        raise ValueError(
            f"{row.path}: file_pattern {pattern!r} cannot be filled from line {row.line} ({err!r}); "
            f"columns: {', '.join(header)}"
        ) from None
    return relative_name(name, row.path, "audio file")


def captions_by_file(csv_path: Path, pattern: str) -> dict[str, list[str]]:
    """Captions of each audio file, files in order of first appearance."""
    header, rows = read_table(csv_path)
    wide = sorted((int(m.group(1)), c) for c in header if (m := _WIDE.fullmatch(c)))
    if not wide and "caption" not in header:
        raise ValueError(f"{csv_path}: no 'caption' or 'caption_<n>' column (columns: {', '.join(header)})")
    if "file_name" not in header and wide:
        raise ValueError(f"{csv_path}: a CSV with caption_<n> columns needs a 'file_name' column")
    columns = [c for _, c in wide] or ["caption"]
    captions: dict[str, list[str]] = {}
    for row in rows:
        captions.setdefault(file_of(row, header, pattern), []).extend(row.get(c) for c in columns)
    return captions


def load_audio_captions(
    csv_path: str | Path,
    audio_root: str | Path,
    *,
    name: str | None = None,
    prefix: str = "AudioCaps",
    sample_rate: int = AUDIO_RATE,
    file_pattern: str = "{youtube_id}.wav",
    skip_missing: bool = False,
    max_captions: int | None = None,
) -> RetrievalDataset:
    """Load an AudioCaps- or Clotho-style captions CSV with its audio files (module doc).

    ``max_captions`` keeps each clip's first captions (None: all).
    """
    csv_path, root = Path(csv_path), Path(audio_root)
    if not root.is_dir():
        raise FileNotFoundError(f"audio root directory not found: {root}")
    captions = captions_by_file(csv_path, file_pattern)
    files = list(captions)
    media = audio_files(root, files, csv_path, prefix, sample_rate)
    kept = media.existing(skip_missing)
    if not kept:
        raise FileNotFoundError(f"{csv_path}: none of its {len(files)} audio files is under {root}")
    texts, text_groups = owned_texts([captions[files[index]] for index in kept], max_captions)
    return RetrievalDataset(
        name or csv_path.stem,
        items={"audio": media.subset(kept), "text": texts},
        groups={"audio": np.arange(len(kept)), "text": text_groups},
        metrics=METRICS,
    )


def load_audio_text_spec(spec: str, **options: Any) -> RetrievalDataset:
    """Load an ``audiocaps:<csv>:<audio_root>`` or ``clotho:<csv>:<audio_root>`` spec."""
    kind = spec.partition(":")[0]
    if kind not in PREFIXES:
        raise ValueError(f"not an audio–text dataset spec: {spec!r} (expected audiocaps: or clotho:)")
    csv_path, root = spec_parts(spec, kind, f"{kind}:<captions.csv>:<audio_root>", 2)
    options.setdefault("name", spec)
    options.setdefault("prefix", PREFIXES[kind])
    return load_audio_captions(csv_path, root, **options)
