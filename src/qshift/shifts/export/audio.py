"""``qshift shift audio``: every audio item of a dataset corrupted once per (shift, severity).

Layout: ``<out>/<Prefix>_AP_<shift>_<severity>/<copy name>`` (AP: audio perturbation, after the
``IP`` of the image copies), where the copy name is the item's file name under the dataset's
audio root (AudioCaps, Clotho), or ``<clip stem>.wav`` for the sound of a clip (``avcsv``). The
copy holds the waveform the query stream shifts: mono, at the dataset's rate (16 kHz unless the
loader was given another), so a copy folder read back through the same spec (the folder as the
audio root) gives the on-the-fly shifted waveform, exactly for ``.wav`` names (32-bit float);
other formats store their default sample type (FLAC: 16-bit).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qshift.shifts.audio import AUDIO_SHIFTS
from qshift.shifts.export.files import MediaSource, build_media
from qshift.shifts.export.kinds import ExportKind, register_kind
from qshift.shifts.export.manifest import Manifest

AUDIO_SEVERITIES = (1, 2, 3, 4, 5)
AUDIO_TAG = "AP"

register_kind(ExportKind("audio", AUDIO_SEVERITIES, groups={"environmental": AUDIO_SHIFTS[1:]}))


def build_audio(
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
    """Write corrupted copies of the first ``limit`` audio items of ``source`` under ``out``."""
    if source.modality != "audio":
        raise ValueError(f"build_audio needs audio items, got {source.modality} items")
    return build_media(source, out, AUDIO_TAG, shifts, severities, seed, workers, limit, progress=progress)
