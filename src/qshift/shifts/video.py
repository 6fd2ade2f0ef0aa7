"""Video query shifts: 15 image corruptions on every frame of a clip, and three temporal shifts.

A clip is a (T, H, W, 3) uint8 RGB array of any size. The frame corruptions are those of
``qshift.shifts.image`` except ``speckle_noise``, as READ builds its video benchmarks; every
frame is corrupted with the clip's seed, so all frames share one draw (the same noise pattern,
blur angle, frost crop or fog map), as one camera fault or one weather would. The temporal
shifts change which frame is shown when; at severity s they touch ⌈s/8 · T⌉ frames (at most
T − 1: 1…5 of 8 frames), drawn from the seed:

- ``frame_drop``: dropped frames show the frame before them (a stalled decoder repeats its last
  picture); the first frame is never dropped, and the frames dropped at a severity include
  those dropped at the severities below it.
- ``frame_shuffle``: swaps of neighbouring frames at that many distinct positions, so the order
  has exactly that many inversions: local disorder that grows with severity.
- ``freeze``: one frame held over that many following frames (the picture freezes, then the
  clip resumes on time).

Clips of one frame are returned unchanged by the temporal shifts. No shift takes options.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from qshift.shifts import image
from qshift.shifts._checks import check_options, check_seed, check_severity

Shift = Callable[..., np.ndarray]

#: the image corruptions applied per frame: all but speckle_noise, in qshift.shifts.image's order
FRAME_SHIFTS = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
TEMPORAL_SHIFTS = ("frame_drop", "frame_shuffle", "freeze")
#: the video shifts in benchmark.md's order
VIDEO_SHIFTS = FRAME_SHIFTS + TEMPORAL_SHIFTS
#: share of the frames a temporal shift touches at severities 1–5
TEMPORAL_SHARES = (1 / 8, 2 / 8, 3 / 8, 4 / 8, 5 / 8)


def _per_frame(name: str) -> Shift:
    """The video shift applying image corruption ``name`` to every frame with the clip's seed."""

    corruption = getattr(image, name)

    def shift(clip: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
        severity, seed = _checked(name, clip, severity, seed, options)
        out = np.empty_like(clip)
        for index, frame in enumerate(clip):
            out[index] = corruption(frame, severity, seed)
        return out

    shift.__name__ = shift.__qualname__ = name
    shift.__doc__ = f"qshift.shifts.image.{name} on every frame, with one seed for all frames."
    return shift


gaussian_noise = _per_frame("gaussian_noise")
shot_noise = _per_frame("shot_noise")
impulse_noise = _per_frame("impulse_noise")
defocus_blur = _per_frame("defocus_blur")
glass_blur = _per_frame("glass_blur")
motion_blur = _per_frame("motion_blur")
zoom_blur = _per_frame("zoom_blur")
snow = _per_frame("snow")
frost = _per_frame("frost")
fog = _per_frame("fog")
brightness = _per_frame("brightness")
contrast = _per_frame("contrast")
elastic_transform = _per_frame("elastic_transform")
pixelate = _per_frame("pixelate")
jpeg_compression = _per_frame("jpeg_compression")


def frame_drop(clip: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Drop ⌈s/8 · T⌉ frames (never the first): each shows the frame before it."""
    severity, seed = _checked("frame_drop", clip, severity, seed, options)
    order = np.arange(len(clip))
    touched = _touched(len(clip), severity)
    dropped = np.random.default_rng(seed).permutation(np.arange(1, len(clip)))[:touched]
    for index in np.sort(dropped):
        order[index] = order[index - 1]
    return clip[order]


def frame_shuffle(clip: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Swap neighbouring frames at ⌈s/8 · T⌉ distinct positions, in a random order."""
    severity, seed = _checked("frame_shuffle", clip, severity, seed, options)
    order = np.arange(len(clip))
    for index in np.random.default_rng(seed).permutation(len(clip) - 1)[: _touched(len(clip), severity)]:
        order[[index, index + 1]] = order[[index + 1, index]]
    return clip[order]


def freeze(clip: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Hold one frame over the ⌈s/8 · T⌉ frames after it."""
    severity, seed = _checked("freeze", clip, severity, seed, options)
    held = _touched(len(clip), severity)
    start = int(np.random.default_rng(seed).integers(len(clip) - held))
    order = np.arange(len(clip))
    order[start : start + held + 1] = start
    return clip[order]


def _touched(frames: int, severity: int) -> int:
    """How many frames a temporal shift changes: ⌈share · T⌉, at most T − 1."""
    return min(frames - 1, math.ceil(TEMPORAL_SHARES[severity - 1] * frames))


def _checked(
    name: str, clip: np.ndarray, severity: int, seed: int, options: dict[str, Any]
) -> tuple[int, int]:
    """(severity, seed) after checking them, the options (none) and the clip."""
    severity, seed = check_severity(name, severity), check_seed(name, seed)
    check_options(name, options, {})
    if not isinstance(clip, np.ndarray) or clip.ndim != 4 or clip.shape[3] != 3:
        shape = getattr(clip, "shape", type(clip).__name__)
        raise ValueError(f"clip for {name} must be a (T, H, W, 3) RGB array, got {shape}")
    if clip.dtype != np.uint8:
        raise ValueError(f"clip for {name} must be uint8, got dtype {clip.dtype}")
    if 0 in clip.shape:
        raise ValueError(f"clip for {name} is empty: shape {clip.shape}")
    return severity, seed
