"""``qshift shift video``: every video item of a dataset corrupted once per (shift, severity).

Layout: ``<out>/<Prefix>_VP_<shift>_<severity>/<video file name>`` (VP: video perturbation). The
copy holds the clip the query stream shifts, i.e. the frames the loader samples at the size it
prepares (8 frames, 224 × 224 by default), encoded as lossless RGB H.264 at a nominal 8 frames
per second: read back through the same spec with the copy folder as the video root, it gives
the on-the-fly shifted clip exactly (every frame is sampled once, and frames already at the
crop size are not cropped again, :func:`qshift.utils.media.read_video`). Copies carry no sound:
for ``avcsv`` name the clean clips as the audio root, ``avcsv:<csv>:<copy folder>:<clip_root>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qshift.shifts.export.files import MediaSource, build_media
from qshift.shifts.export.kinds import ExportKind, register_kind
from qshift.shifts.export.manifest import Manifest
from qshift.shifts.video import FRAME_SHIFTS, TEMPORAL_SHIFTS

VIDEO_SEVERITIES = (1, 2, 3, 4, 5)
VIDEO_TAG = "VP"

register_kind(
    ExportKind("video", VIDEO_SEVERITIES, groups={"frame": FRAME_SHIFTS, "temporal": TEMPORAL_SHIFTS})
)


def build_video(
    source: MediaSource,
    out: str | Path,
    shifts: str | Sequence[str] | None = None,
    severities: str | Sequence[int] | None = None,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    *,
    progress: bool = True,
) -> Manifest:
    """Write corrupted copies of the first ``limit`` video items of ``source`` under ``out``."""
    if source.modality != "video":
        raise ValueError(f"build_video needs video items, got {source.modality} items")
    return build_media(source, out, VIDEO_TAG, shifts, severities, seed, workers, limit, progress=progress)
