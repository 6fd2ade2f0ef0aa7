"""Clip content of ``scenes-av``: a scenes scene whose objects move, and its frames.

A clip is a :class:`~qshift.data.scenes.Scene` (1–3 coloured shapes on a 3×3 grid over a
textured background, drawn by the scenes generator) plus one :class:`Motion` per object: a
direction (left, right, up or down) and a speed (slow or fast). Over the clip's
:data:`FRAMES` frames an object glides through its grid position, from half its travel before
it to half after it; the background stays still. Frames are rendered by the scenes renderer at
:data:`FRAME_SIZE` pixels, small enough for a CPU model to watch eight of them.

Randomness: clip ``i`` of split ``s`` draws from
``default_rng([seed, AV_CODE, SPLIT_CODES[s], i, purpose])``: the splits (and the scenes
benchmark's own images) use disjoint seed streams, and any clip can be made from its index.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from qshift.data.scenes import SPLIT_CODES, Scene, render_scene, sample_scene

#: frames per clip and their side in pixels; 8 frames at 8 frames per second make one second
FRAMES = 8
FRAME_SIZE = 64
FRAME_RATE = 8
#: directions of motion and their unit steps in image coordinates (y grows downwards)
DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
#: speeds and the distance an object travels over the clip, as a fraction of the image side
#: (slow: 4 px, fast: 9 px at 64 px; a grid cell is 21 px)
SPEEDS = {"slow": 0.06, "fast": 0.14}
#: the ``scenes-av`` entry of the seed streams, apart from the scenes benchmark's images
AV_CODE = 7
PURPOSE_CLIP, PURPOSE_SOUND = 1, 2


@dataclass(frozen=True)
class Motion:
    """How one object moves over the clip."""

    direction: str
    speed: str

    def offset(self, progress: float) -> tuple[float, float]:
        """Displacement (normalised units) at ``progress`` in [0, 1] through the clip."""
        ux, uy = DIRECTIONS[self.direction]
        travel = SPEEDS[self.speed] * (progress - 0.5)
        return ux * travel, uy * travel


@dataclass(frozen=True)
class Clip:
    """A scene and the motion of each of its objects (aligned with ``scene.objects``)."""

    scene: Scene
    motions: tuple[Motion, ...]


def check_split(split: str, seed: int) -> int:
    """The split's code; ValueError naming a bad split or seed."""
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown scenes-av split {split!r}; expected one of {', '.join(SPLIT_CODES)}")
    if seed < 0:
        raise ValueError(f"scenes-av seed must be >= 0, got {seed}")
    return SPLIT_CODES[split]


def clip_rng(seed: int, split: str, index: int, purpose: int) -> np.random.Generator:
    """The generator of one (split, clip, purpose): disjoint streams per split and index."""
    return np.random.default_rng([seed, AV_CODE, check_split(split, seed), index, purpose])


def sample_clip(rng: np.random.Generator) -> Clip:
    """A random scene with a random direction and speed for each object."""
    scene = sample_scene(rng)
    motions = tuple(
        Motion(str(rng.choice(list(DIRECTIONS))), str(rng.choice(list(SPEEDS)))) for _ in scene.objects
    )
    return Clip(scene, motions)


def make_clip(split: str, index: int, seed: int = 0) -> Clip:
    """Clip ``index`` of ``split`` (depends only on seed, split and index)."""
    return sample_clip(clip_rng(seed, split, index, PURPOSE_CLIP))


def frame_scene(clip: Clip, t: int, frames: int = FRAMES) -> Scene:
    """The scene shown at frame ``t``: every object moved along its motion."""
    progress = t / (frames - 1) if frames > 1 else 0.5
    moved = []
    for obj, motion in zip(clip.scene.objects, clip.motions, strict=True):
        dx, dy = motion.offset(progress)
        moved.append(replace(obj, x=obj.x + dx, y=obj.y + dy))
    return replace(clip.scene, objects=tuple(moved))


def render_clip(clip: Clip, size: int = FRAME_SIZE, frames: int = FRAMES) -> np.ndarray:
    """The clip as a (frames, size, size, 3) uint8 array (deterministic, no randomness)."""
    return np.stack([render_scene(frame_scene(clip, t, frames), size) for t in range(frames)])
