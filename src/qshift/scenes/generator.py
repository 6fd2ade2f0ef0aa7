"""Scene content of the ``scenes`` benchmark: objects, backgrounds, sampling, splits and seeds.

Each scene holds 1-3 coloured shapes in distinct cells of a 3x3 grid over a muted two-tone
texture. A scene is data only (what to draw and what to caption); ``render.py`` draws it and
``captions.py`` words it.

Randomness: every draw about image ``i`` of split ``s`` comes from
``default_rng([seed, SPLIT_CODES[s], i, purpose])`` (:func:`scene_rng`), so splits use disjoint
seed streams, any image can be rebuilt from its index alone, and the purposes below keep the
scene, its captions, its restyled captions and its hard negatives independent of each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
SPLIT_SIZES = {"train": 20000, "val": 1000, "test": 1000}

#: nine shape kinds; a hexagon was dropped: at the model's 64 px it is a circle (most confused pair)
SHAPES = ("circle", "square", "triangle", "star", "cross", "heart", "diamond", "ring", "moon")
COLOURS = {
    "red": (220, 30, 30),
    "orange": (245, 135, 20),
    "yellow": (245, 220, 30),
    "green": (35, 165, 55),
    "blue": (30, 80, 225),
    "purple": (135, 50, 185),
    "pink": (250, 125, 185),
    "brown": (125, 75, 35),
    "black": (20, 20, 20),
    "white": (248, 248, 248),
}
#: object radius range as a fraction of the image side, per size (small ones stay about 13 px
#: wide at the model's 64 px, large ones fill most of their grid cell)
SIZES = {"small": (0.095, 0.11), "large": (0.135, 0.15)}
ROWS = ("top", "middle", "bottom")
COLS = ("left", "centre", "right")
BACKGROUNDS = ("stripes", "dots", "checks", "gradient", "grid", "waves")
#: random-stream purposes of one image: the scene, its training-style captions, the held-out
#: styles (one stream each, from PURPOSE_STYLES on) and the hard negatives (from PURPOSE_NEGATIVES on)
PURPOSE_SCENE, PURPOSE_CAPTIONS, PURPOSE_STYLES, PURPOSE_NEGATIVES = 1, 2, 3, 20


@dataclass(frozen=True)
class SceneObject:
    """One shape: its captioned attributes plus the render-only jitter (normalised units)."""

    shape: str
    colour: str
    size: str
    row: int
    col: int
    x: float
    y: float
    radius: float
    angle: float
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Background:
    """A two-tone texture: ``kind`` (one of BACKGROUNDS), tones, period, angle and phase."""

    kind: str
    tone_a: tuple[int, int, int]
    tone_b: tuple[int, int, int]
    period: float
    angle: float
    phase: float


@dataclass(frozen=True)
class Scene:
    """Everything needed to render one image and caption it."""

    objects: tuple[SceneObject, ...]
    background: Background


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    """HSV in [0, 1] to an RGB uint8 triple."""
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return round(r * 255), round(g * 255), round(b * 255)


def _sample_background(rng: np.random.Generator) -> Background:
    """A muted two-tone texture so that the saturated objects stay the salient content."""
    hue = rng.random()
    sat = rng.uniform(0.08, 0.3)
    val = rng.uniform(0.42, 0.75)
    hue_b = hue if rng.random() < 0.6 else rng.random()
    val_b = float(np.clip(val + rng.choice([-1, 1]) * rng.uniform(0.12, 0.25), 0.3, 0.85))
    return Background(
        kind=str(rng.choice(BACKGROUNDS)),
        tone_a=_hsv_to_rgb(hue, sat, val),
        tone_b=_hsv_to_rgb(hue_b, rng.uniform(0.08, 0.3), val_b),
        period=float(rng.uniform(0.05, 0.13)),
        angle=float(rng.choice([0.0, 45.0, 90.0, 135.0]) + rng.uniform(-8, 8)),
        phase=float(rng.random()),
    )


def _sample_object(rng: np.random.Generator, cell: int) -> SceneObject:
    """A random shape in grid ``cell``, jittered inside it."""
    row, col = divmod(cell, 3)
    size = str(rng.choice(list(SIZES)))
    radius = float(rng.uniform(*SIZES[size]))
    slack = max(0.0, 1 / 6 - 1.2 * radius - 0.005)
    colour = str(rng.choice(list(COLOURS)))
    rgb = tuple(int(np.clip(c + rng.integers(-15, 16), 0, 255)) for c in COLOURS[colour])
    return SceneObject(
        shape=str(rng.choice(SHAPES)),
        colour=colour,
        size=size,
        row=row,
        col=col,
        x=(col + 0.5) / 3 + float(rng.uniform(-slack, slack)),
        y=(row + 0.5) / 3 + float(rng.uniform(-slack, slack)),
        radius=radius,
        angle=float(rng.uniform(-12, 12)),
        rgb=rgb,  # type: ignore[arg-type]
    )


def sample_scene(rng: np.random.Generator) -> Scene:
    """A random scene: 1-3 objects in distinct grid cells over a random background."""
    count = int(rng.choice([1, 2, 3], p=[0.25, 0.4, 0.35]))
    cells = rng.choice(9, size=count, replace=False)
    objects = tuple(_sample_object(rng, int(c)) for c in sorted(cells))
    return Scene(objects=objects, background=_sample_background(rng))


def check_split(split: str, seed: int) -> int:
    """The split's code; ValueError for an unknown split or a negative seed."""
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown scenes split {split!r}; expected one of {', '.join(SPLIT_CODES)}")
    if seed < 0:
        raise ValueError(f"scenes seed must be >= 0, got {seed}")
    return SPLIT_CODES[split]


def scene_rng(seed: int, split: str, index: int, purpose: int) -> np.random.Generator:
    """The generator for one (split, image, purpose): disjoint streams per split and index."""
    return np.random.default_rng([seed, check_split(split, seed), index, purpose])


def generate_scenes(split: str, count: int, seed: int = 0) -> list[Scene]:
    """The first ``count`` scenes of ``split`` (scene ``i`` depends only on seed, split and i)."""
    return [sample_scene(scene_rng(seed, split, i, PURPOSE_SCENE)) for i in range(count)]
