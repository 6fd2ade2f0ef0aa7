"""The ``scenes-av`` splits as retrieval datasets: clips (video) and their soundtracks (audio).

Items are made on demand from their index (nothing is cached on disk): ``video`` items are
(8, 64, 64, 3) uint8 clips, ``audio`` items 1-D float32 waveforms of one second at 16 kHz.
Clip ``i``'s video and audio share group ``i``: a query is relevant to its own clip's other
half only. Tasks ``a2v`` and ``v2a``; the extra metric ``medr`` (median rank).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from qshift.data.base import RetrievalDataset
from qshift.scenes_av.clips import PURPOSE_SOUND, check_split, clip_rng, make_clip, render_clip
from qshift.scenes_av.soundtrack import soundtrack

#: clips per split; the training split is the stream pretraining draws from
SPLIT_SIZES = {"train": 100_000, "val": 1000, "test": 1000}
METRICS = ("medr",)


class GeneratedItems:
    """``count`` items made on demand by ``make(index)``."""

    def __init__(self, count: int, make: Callable[[int], np.ndarray]):
        self.count = count
        self.make = make

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.make(index)


def clip_video(split: str, index: int, seed: int = 0) -> np.ndarray:
    """The frames of clip ``index`` of ``split``: (8, 64, 64, 3) uint8."""
    return render_clip(make_clip(split, index, seed))


def clip_audio(split: str, index: int, seed: int = 0) -> np.ndarray:
    """The soundtrack of clip ``index`` of ``split``: one second of float32 samples at 16 kHz."""
    return soundtrack(make_clip(split, index, seed), clip_rng(seed, split, index, PURPOSE_SOUND))


def scenes_av_split(split: str, num_clips: int, seed: int = 0) -> RetrievalDataset:
    """The first ``num_clips`` clips of ``split`` as a video–audio retrieval dataset."""
    check_split(split, seed)
    if num_clips < 1:
        raise ValueError(f"scenes-av num_clips must be >= 1, got {num_clips}")
    ids = np.arange(num_clips)
    return RetrievalDataset(
        name="scenes-av" if split == "test" else f"scenes-av:{split}",
        items={
            "video": GeneratedItems(num_clips, lambda i: clip_video(split, i, seed)),
            "audio": GeneratedItems(num_clips, lambda i: clip_audio(split, i, seed)),
        },
        groups={"video": ids, "audio": ids},
        metrics=METRICS,
    )


def load_scenes_av_dataset(split: str = "test", seed: int = 0) -> RetrievalDataset:
    """The standard split: test and val 1,000 clips each."""
    check_split(split, seed)
    return scenes_av_split(split, SPLIT_SIZES[split], seed)


def load_spec(spec: str, **options: Any) -> RetrievalDataset:
    """``scenes-av`` (the test split) or ``scenes-av:<split>``; ``options`` go to the loader."""
    split = spec.partition(":")[2]
    if split:
        options["split"] = split
    return load_scenes_av_dataset(**options)
