"""MSR-VTT video–text retrieval (tasks ``v2t``, ``t2v``), the 1k-A test split and others.

Spec (see :func:`qshift.data.load_dataset`; paths must not contain ``:``):
``msrvtt:<annotation>:<video_root>[:<split>]``. Videos are ``<video_root>/<video_id>.mp4``
(``file_pattern`` changes that). The annotation is one of

- the JSFusion test CSV ``MSRVTT_JSFUSION_test.csv`` (``key, vid_key, video_id, sentence``):
  the **1k-A** test split, 1,000 videos with one sentence each, as CLIP4Clip and most video–text
  retrieval papers evaluate (``msrvtt:<that csv>:<video_root>``);
- MSR-VTT's JSON (``MSRVTT_data.json``, ``train_val_videodatainfo.json``, …): an object whose
  ``sentences`` list holds ``{"video_id", "caption"}``, or a JSON list of
  ``{"video_id", "caption"}`` entries (``caption`` a string or a list; ``captions`` or
  ``sentence`` accepted too). Every caption of a video is kept (``max_captions`` keeps fewer).

The optional split keeps the videos it lists, in its order: a text file of video ids (one per
line) or a CSV with a ``video_id`` column (e.g. the 1k-A CSV itself, keeping every JSON caption
of its 1,000 videos). A video is relevant to its own captions. Clips are read lazily as 8
frames sampled uniformly, short side resized to 256 and centre 224 cropped (benchmark.md);
``frames`` / ``size`` change that. Captions are kept verbatim (stripped). Metrics: R@1, R@5,
R@10, mAP and the median rank ``medr``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from qshift.data.av_files import VIDEO_FRAMES, VIDEO_SIZE, relative_name, video_files
from qshift.data.base import RetrievalDataset, owned_texts
from qshift.data.karpathy import spec_parts
from qshift.utils.annotations import entry_captions, entry_text, read_json_list
from qshift.utils.csv_table import read_table

PREFIX = "MSRVTT"
METRICS = ("medr",)


def _json_captions(path: Path) -> dict[str, list[str]]:
    """Captions per video id of an MSR-VTT JSON: ``{"sentences": [...]}`` or a list of entries."""
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a valid JSON file ({err})") from None
    if isinstance(data, dict):
        if not isinstance(data.get("sentences"), list) or not data["sentences"]:
            raise ValueError(f"{path}: expected a non-empty 'sentences' list of {{video_id, caption}}")
        entries = data["sentences"]
    else:
        entries = read_json_list(path)
    captions: dict[str, list[str]] = {}
    for index, entry in enumerate(entries):
        video = entry_text(entry, path, index, "video_id")
        texts = entry_captions(entry, path, index, "caption", "captions", "sentence")
        captions.setdefault(video.strip(), []).extend(t.strip() for t in texts)
    return captions


def _csv_captions(path: Path) -> dict[str, list[str]]:
    """Sentences per video id of a JSFusion-style CSV (``video_id``, ``sentence``)."""
    _, rows = read_table(path, required=("video_id", "sentence"))
    captions: dict[str, list[str]] = {}
    for row in rows:
        captions.setdefault(row.get("video_id"), []).append(row.get("sentence"))
    return captions


def read_split(path: Path) -> list[str]:
    """Video ids of a split file: a ``video_id`` CSV column, or one id per line of a text file."""
    if path.suffix.lower() == ".csv":
        _, rows = read_table(path, required=("video_id",))
        ids = [row.get("video_id") for row in rows]
    else:
        if not path.is_file():
            raise FileNotFoundError(f"split file not found: {path}")
        ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"{path}: the split lists no video ids")
    return list(dict.fromkeys(ids))


def load_msrvtt(
    annotation: str | Path,
    video_root: str | Path,
    split: str | Path | None = None,
    *,
    name: str | None = None,
    frames: int = VIDEO_FRAMES,
    size: int | None = VIDEO_SIZE,
    file_pattern: str = "{video_id}.mp4",
    skip_missing: bool = False,
    max_captions: int | None = None,
) -> RetrievalDataset:
    """Load MSR-VTT captions with their videos (module doc)."""
    path, root = Path(annotation), Path(video_root)
    if not root.is_dir():
        raise FileNotFoundError(f"video root directory not found: {root}")
    captions = _csv_captions(path) if path.suffix.lower() == ".csv" else _json_captions(path)
    videos = list(captions)
    if split is not None:
        videos = read_split(Path(split))
        unknown = [v for v in videos if v not in captions]
        if unknown:
            raise ValueError(f"{split}: video {unknown[0]!r} has no caption in {path} ({len(unknown)} such)")
    try:
        files = [file_pattern.format(video_id=v) for v in videos]
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"file_pattern {file_pattern!r} may only name {{video_id}} ({err!r})") from None
    names = [relative_name(file, path, "video file") for file in files]
    media = video_files(root, names, path, PREFIX, frames, size)
    kept = media.existing(skip_missing)
    if not kept:
        raise FileNotFoundError(f"{path}: none of its {len(videos)} videos is under {root}")
    texts, text_groups = owned_texts([captions[videos[index]] for index in kept], max_captions)
    return RetrievalDataset(
        name or path.stem,
        items={"video": media.subset(kept), "text": texts},
        groups={"video": np.arange(len(kept)), "text": text_groups},
        metrics=METRICS,
    )


def load_msrvtt_spec(spec: str, **options: Any) -> RetrievalDataset:
    """Load an ``msrvtt:<annotation>:<video_root>[:<split>]`` spec."""
    parts = spec_parts(spec, "msrvtt", "msrvtt:<annotation.json|csv>:<video_root>[:<split.txt|csv>]", 2, 1)
    options.setdefault("name", spec)
    return load_msrvtt(parts[0], parts[1], parts[2] if len(parts) == 3 else None, **options)
