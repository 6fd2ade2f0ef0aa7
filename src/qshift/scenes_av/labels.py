"""What a clip holds, as training labels both towers can read: attributes per grid column.

For each of the three columns, multi-hot flags of the colours, shapes, sizes, speeds and
vertical motions (up, down, neither) of the objects that start in it: 3 × 26 = 78 labels. The
soundtrack carries every one of them (the column is the onset; :mod:`qshift.scenes_av.soundtrack`)
and so does the picture, so a head on each tower can learn them from the first step on, long
before two random towers agree on anything (docs/scenes-av.md). Training only: nothing ships.
"""

from __future__ import annotations

import numpy as np

from qshift.data.scenes import COLOURS, SHAPES, SIZES
from qshift.scenes_av.clips import SPEEDS, Clip

#: vertical motion as the soundtrack hears it (a glide up, down, or none)
GLIDE_CLASSES = ("up", "down", "flat")
#: labels per column: colours, shapes, sizes, speeds, glides
PER_COLUMN = len(COLOURS) + len(SHAPES) + len(SIZES) + len(SPEEDS) + len(GLIDE_CLASSES)
NUM_LABELS = 3 * PER_COLUMN


def _offsets() -> dict[str, dict[str, int]]:
    """Position of every attribute value inside a column's block of labels."""
    out, start = {}, 0
    for kind, values in (
        ("colour", COLOURS),
        ("shape", SHAPES),
        ("size", SIZES),
        ("speed", SPEEDS),
        ("glide", GLIDE_CLASSES),
    ):
        out[kind] = {value: start + i for i, value in enumerate(values)}
        start += len(values)
    return out


OFFSETS = _offsets()


def attribute_labels(clip: Clip) -> np.ndarray:
    """The clip's (NUM_LABELS,) float32 multi-hot labels."""
    labels = np.zeros((3, PER_COLUMN), dtype=np.float32)
    for obj, motion in zip(clip.scene.objects, clip.motions, strict=True):
        glide = motion.direction if motion.direction in ("up", "down") else "flat"
        for kind, value in (
            ("colour", obj.colour),
            ("shape", obj.shape),
            ("size", obj.size),
            ("speed", motion.speed),
            ("glide", glide),
        ):
            labels[obj.col, OFFSETS[kind][value]] = 1.0
    return labels.reshape(-1)
