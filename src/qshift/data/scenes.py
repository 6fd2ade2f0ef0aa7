"""The embedded ``scenes`` benchmark: procedural captioned images, deterministic from a seed.

Each scene holds 1-3 coloured shapes on a 3x3 grid over a textured background. Images are
rendered on demand at 224x224 (the raw "photo" resolution the corruption constants are tuned
for); nothing is cached on disk. Every image has 5 captions in the *training* style (many
templates and synonyms, full, partial and relational descriptions) and, for val/test, the same
5 contents rendered in five held-out styles (``formal``, ``casual``, ``passive``, ``active``,
``back_translation``) that serve as native sentence-level query shifts.

Randomness: scene ``i`` of split ``s`` draws from ``default_rng([seed, SPLIT_CODES[s], i, purpose])``,
so splits use disjoint seed streams and any image can be rendered from its index alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from qshift.data.base import GeneratedImages, RetrievalDataset

RAW_SIZE = 224
CAPTIONS_PER_IMAGE = 5
SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
SPLIT_SIZES = {"train": 20000, "val": 1000, "test": 1000}
STYLES = ("formal", "casual", "passive", "active", "back_translation")

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
_PURPOSE_SCENE, _PURPOSE_CAPTIONS, _PURPOSE_STYLE = 1, 2, 3


# ----------------------------------------------------------------------------- scene content
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


# ----------------------------------------------------------------------------- rendering
def _regular_polygon(n: int, offset_deg: float, scale: float = 1.0) -> np.ndarray:
    angles = np.deg2rad(offset_deg + 360.0 * np.arange(n) / n)
    return scale * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star() -> np.ndarray:
    angles = np.deg2rad(-90 + 36.0 * np.arange(10))
    radii = np.where(np.arange(10) % 2 == 0, 1.2, 0.5)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross() -> np.ndarray:
    a, b = 0.36, 1.05
    return np.array(
        [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a)]
        + [(-b, -a), (-a, -a)]
    )


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y + 2.5], axis=1) / 15.0


def _moon() -> np.ndarray:
    """A crescent opening to the right: outer arc of the unit circle, inner arc back."""
    a = np.deg2rad(50)
    outer = np.linspace(a, 2 * np.pi - a, 32)
    end = np.array([np.cos(a), np.sin(a)])
    centre = np.array([0.35, 0.0])
    rho = float(np.linalg.norm(end - centre))
    start = math.atan2(-end[1], end[0] - centre[0])
    stop = math.atan2(end[1], end[0] - centre[0])
    inner = np.linspace(start + 2 * np.pi, stop, 24)
    outer_pts = np.stack([np.cos(outer), np.sin(outer)], axis=1)
    inner_pts = centre + rho * np.stack([np.cos(inner), np.sin(inner)], axis=1)
    return np.concatenate([outer_pts, inner_pts]) * 1.1


#: unit outlines (radius ~1, image coordinates with y down); circle and ring are drawn as ellipses
_OUTLINES: dict[str, np.ndarray] = {
    "square": _regular_polygon(4, 45, 1.2),
    "triangle": _regular_polygon(3, -90, 1.3),
    "star": _star(),
    "cross": _cross(),
    "heart": _heart(),
    "diamond": _regular_polygon(4, 0, 1.25) * np.array([0.72, 1.0]),
    "moon": _moon(),
}


@lru_cache(maxsize=4)
def _coords(size: int) -> np.ndarray:
    """Pixel-centre coordinates in normalised units (read-only, shared by all renders)."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    coords.setflags(write=False)
    return coords


def _texture_mask(bg: Background, size: int) -> np.ndarray:
    """Blend weight of ``tone_b`` per pixel as uint8 levels 0..255 (0 = ``tone_a``)."""
    c = _coords(size)
    theta = np.deg2rad(bg.angle)
    cos, sin = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    p = np.float32(bg.period)
    # rotated texture coordinates in periods, as broadcast sums of a column and a row
    u = (c * sin / p + bg.phase)[:, None] + (c * cos / p)[None, :]
    v = (c * cos / p + bg.phase)[:, None] - (c * sin / p)[None, :]
    if bg.kind == "stripes":
        on = u % 1.0 < 0.5
    elif bg.kind == "dots":
        du = u % 1.0 - 0.5
        dv = v % 1.0 - 0.5
        on = du * du + dv * dv < 0.09
    elif bg.kind == "checks":
        on = (np.floor(u) + np.floor(v)) % 2 == 0
    elif bg.kind == "grid":
        on = (u % 1.0 < 0.15) | (v % 1.0 < 0.15)
    elif bg.kind == "waves":
        on = (v + 0.25 * np.sin(2 * np.pi * (u - bg.phase) / 2.5)) % 1.0 < 0.5
    else:  # gradient along u, spanning most of the image
        return (np.clip((u - bg.phase) * p * 0.7 + 0.15, 0.0, 1.0) * 255).astype(np.uint8)
    return on.view(np.uint8) * np.uint8(255)


def _background(bg: Background, size: int) -> np.ndarray:
    """The textured background: a 256-entry colour table indexed by the blend mask."""
    a = np.asarray(bg.tone_a, dtype=np.float32)
    b = np.asarray(bg.tone_b, dtype=np.float32)
    table = (a + (b - a) * (np.arange(256, dtype=np.float32)[:, None] / 255)).round().astype(np.uint8)
    return table[_texture_mask(bg, size)]


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, size: int) -> None:
    cx, cy, r = obj.x * size, obj.y * size, obj.radius * size
    fill = obj.rgb
    edge = tuple(int(c * 0.55) for c in fill) if obj.colour != "black" else (90, 90, 90)
    width = max(1, round(size / 112))
    box = (cx - r, cy - r, cx + r, cy + r)
    if obj.shape == "circle":
        draw.ellipse(box, fill=fill, outline=edge, width=width)
        return
    if obj.shape == "ring":
        draw.ellipse(box, outline=edge, width=max(2, round(0.42 * r)))
        inset = width
        draw.ellipse(
            (box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset),
            outline=fill,
            width=max(1, round(0.42 * r) - 2 * inset),
        )
        return
    theta = np.deg2rad(obj.angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    pts = _OUTLINES[obj.shape] @ rot.T * r + np.array([cx, cy])
    draw.polygon([tuple(p) for p in pts.tolist()], fill=fill, outline=edge, width=width)


def render_scene(scene: Scene, size: int = RAW_SIZE) -> np.ndarray:
    """Render ``scene`` as a ``size``×``size``×3 uint8 RGB image (deterministic, no randomness)."""
    img = Image.fromarray(_background(scene.background, size))
    draw = ImageDraw.Draw(img)
    for obj in scene.objects:
        _draw_object(draw, obj, size)
    return np.asarray(img)


# ----------------------------------------------------------------------------- captions
@dataclass(frozen=True)
class CaptionPlan:
    """What one caption says, independent of its wording.

    ``objects`` indexes the scene objects mentioned (in mention order); ``relation`` (for
    relational captions) relates the first two; the flags choose the optional details.
    """

    objects: tuple[int, ...]
    sizes: tuple[bool, ...]
    positions: tuple[bool, ...]
    relation: str | None = None
    count: bool = False
    background: bool = False


def _relation(a: SceneObject, b: SceneObject, rng: np.random.Generator) -> str | None:
    """A true spatial relation of ``a`` to ``b`` ("above", "below", "left", "right")."""
    options = []
    if a.row != b.row:
        options.append("above" if a.row < b.row else "below")
    if a.col != b.col:
        options.append("left" if a.col < b.col else "right")
    return str(rng.choice(options)) if options else None


def _plan(scene: Scene, kind: str, rng: np.random.Generator) -> CaptionPlan:
    """A caption plan of ``kind`` ("full", "partial" or "relation") for ``scene``."""
    n = len(scene.objects)
    order = [int(i) for i in rng.permutation(n)]
    relation = None
    if kind == "relation" and n >= 2:
        relation = _relation(scene.objects[order[0]], scene.objects[order[1]], rng)
        keep = 2 + int(n == 3 and rng.random() < 0.4)
        order = order[:keep]
    elif kind == "partial" and n >= 2:
        order = order[: int(rng.integers(1, n))]
    with_positions = relation is None and (kind == "partial" or rng.random() < 0.65)
    return CaptionPlan(
        objects=tuple(order),
        sizes=tuple(bool(rng.random() < 0.5) for _ in order),
        positions=tuple(with_positions and bool(rng.random() < 0.85) for _ in order),
        relation=relation,
        count=kind == "full" and n >= 2 and bool(rng.random() < 0.3),
        background=bool(rng.random() < 0.3),
    )


def caption_plans(scene: Scene, rng: np.random.Generator) -> list[CaptionPlan]:
    """The 5 caption plans of a scene: full descriptions, one partial and one relational."""
    kinds = ["full", "full", "full", "partial", "relation"] if len(scene.objects) >= 2 else ["full"] * 5
    return [_plan(scene, kind, rng) for kind in kinds]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


@dataclass(frozen=True)
class Lexicon:
    """The wording of one caption style: synonyms, position phrases and connective templates."""

    shapes: dict[str, tuple[str, ...]]
    colours: dict[str, tuple[str, ...]]
    sizes: dict[str, tuple[str, ...]]
    positions: Callable[[int, int, np.random.Generator], str]
    backgrounds: dict[str, tuple[str, ...]]


_BASE_SHAPES = {
    "circle": ("circle", "disk"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
    "star": ("star",),
    "cross": ("cross", "plus sign"),
    "heart": ("heart",),
    "diamond": ("diamond",),
    "ring": ("ring", "donut"),
    "moon": ("moon", "crescent"),
}
_RARE_SHAPES = {
    "circle": ("round disc", "orb"),
    "square": ("quadrate", "four-sided square"),
    "triangle": ("three-cornered shape", "trigon"),
    "star": ("star figure", "five-pointed star"),
    "cross": ("plus", "crossing"),
    "heart": ("heart figure", "heart symbol"),
    "diamond": ("rhombus", "lozenge"),
    "ring": ("annulus", "hoop"),
    "moon": ("half moon", "sickle"),
}
_RARE_COLOURS = {
    "red": ("crimson", "scarlet"),
    "orange": ("tangerine", "orange-coloured"),
    "yellow": ("golden", "lemon"),
    "green": ("emerald", "verdant"),
    "blue": ("azure", "cobalt"),
    "purple": ("violet", "lilac"),
    "pink": ("rose", "rosy"),
    "brown": ("chestnut", "umber"),
    "black": ("dark", "jet"),
    "white": ("snowy", "pale"),
}
_BASE_BACKGROUNDS = {
    "stripes": ("striped",),
    "dots": ("dotted", "polka-dot"),
    "checks": ("checkered", "checked"),
    "gradient": ("gradient", "shaded"),
    "grid": ("grid", "gridded"),
    "waves": ("wavy",),
}


def _base_position(row: int, col: int, rng: np.random.Generator) -> str:
    """Training-style position phrase ("in the top left", "on the right", "in the middle")."""
    r, c = ROWS[row], COLS[col]
    if r == "middle" and c == "centre":
        return _pick(rng, ("in the centre", "in the middle", "at the center"))
    if r == "middle":
        return _pick(rng, (f"on the {c}", f"on the {c} side", f"at the middle {c}"))
    vert = _pick(rng, (r, "upper" if r == "top" else "lower"))
    if c == "centre":
        return _pick(rng, (f"at the {r}", f"in the {r} middle", f"at the {vert} centre"))
    return _pick(rng, (f"in the {vert} {c}", f"at the {r} {c}", f"in the {r}-{c} corner"))


def _formal_position(row: int, col: int, rng: np.random.Generator) -> str:
    r = {"top": "upper", "middle": "central", "bottom": "lower"}[ROWS[row]]
    c = {"left": "left-hand", "centre": "central", "right": "right-hand"}[COLS[col]]
    if row == 1 and col == 1:
        return _pick(
            rng, ("positioned at the centre of the frame", "located at the centre of the composition")
        )
    if row == 1:
        return _pick(rng, (f"positioned on the {c} side of the frame", f"located along the {c} edge"))
    if col == 1:
        return _pick(
            rng, (f"positioned in the {r} central region", f"located in the {r} portion of the frame")
        )
    return _pick(rng, (f"positioned in the {r} {c} region", f"located in the {r} {c} quadrant"))


def _casual_position(row: int, col: int, rng: np.random.Generator) -> str:
    r = {"top": "up top", "middle": "", "bottom": "down low"}[ROWS[row]]
    c = {"left": "on the left", "centre": "", "right": "over on the right"}[COLS[col]]
    if row == 1 and col == 1:
        return _pick(rng, ("smack in the middle", "right in the middle"))
    return _pick(rng, ("kinda ", "like ", "")) + " ".join(part for part in (r, c) if part)


def _bt_position(row: int, col: int, rng: np.random.Generator) -> str:
    r = {"top": "above", "middle": "middle", "bottom": "below"}[ROWS[row]]
    c = {"left": "left", "centre": "middle", "right": "right"}[COLS[col]]
    if row == 1 and col == 1:
        return _pick(rng, ("in the midst", "in centre", "at middle"))
    if row == 1:
        return _pick(rng, (f"at the {c} side", f"{c}"))
    if col == 1:
        return _pick(rng, (f"{r} in the middle", f"at {r}"))
    return _pick(rng, (f"{c} {r}", f"on the {c} {r}", f"at {r} {c}"))


_LEXICONS = {
    "base": Lexicon(
        shapes=_BASE_SHAPES,
        colours={c: (c,) for c in COLOURS},
        sizes={"small": ("small", "little"), "large": ("large", "big")},
        positions=_base_position,
        backgrounds=_BASE_BACKGROUNDS,
    ),
    "formal": Lexicon(
        shapes={k: v[:1] for k, v in _BASE_SHAPES.items()},
        colours={c: (c, f"{c}-coloured") for c in COLOURS},
        sizes={"small": ("small-scale", "modestly sized"), "large": ("large-scale", "sizeable")},
        positions=_formal_position,
        backgrounds={k: (f"{v[0]}",) for k, v in _BASE_BACKGROUNDS.items()},
    ),
    "casual": Lexicon(
        shapes={**_BASE_SHAPES, "circle": ("circle", "blob"), "cross": ("plus thing", "cross")},
        colours={c: (c, f"{c}ish") for c in COLOURS},
        sizes={"small": ("tiny", "lil"), "large": ("huge", "chunky")},
        positions=_casual_position,
        backgrounds=_BASE_BACKGROUNDS,
    ),
    "back_translation": Lexicon(
        shapes={k: _BASE_SHAPES[k][:1] + _RARE_SHAPES[k] for k in SHAPES},
        colours={c: (c,) + _RARE_COLOURS[c] for c in COLOURS},
        sizes={"small": ("small", "little", "minor"), "large": ("great", "large", "tall")},
        positions=_bt_position,
        backgrounds={**_BASE_BACKGROUNDS, "stripes": ("strip",), "checks": ("chess",), "dots": ("point",)},
    ),
}


class _Writer:
    """Renders caption plans of one scene in one style."""

    def __init__(self, scene: Scene, style: str, rng: np.random.Generator):
        self.scene = scene
        self.style = style
        self.rng = rng
        self.lex = _LEXICONS.get(style, _LEXICONS["base"])

    def noun(self, index: int, with_size: bool, article: bool = True) -> str:
        """ "a large red star" in this style's vocabulary."""
        obj = self.scene.objects[index]
        words = [_pick(self.rng, self.lex.sizes[obj.size])] if with_size else []
        words += [_pick(self.rng, self.lex.colours[obj.colour]), _pick(self.rng, self.lex.shapes[obj.shape])]
        phrase = " ".join(words)
        return f"{_article(phrase)} {phrase}" if article else phrase

    def items(self, plan: CaptionPlan) -> list[str]:
        """Noun phrase of every mentioned object, followed by its place when the plan says so."""
        return [
            self.noun(i, s) + (f" {self.place(i)}" if p else "")
            for i, s, p in zip(plan.objects, plan.sizes, plan.positions, strict=True)
        ]

    def place(self, index: int) -> str:
        obj = self.scene.objects[index]
        return self.lex.positions(obj.row, obj.col, self.rng)

    def background(self) -> str:
        return _pick(self.rng, self.lex.backgrounds[self.scene.background.kind])

    def pick(self, *options: str) -> str:
        return _pick(self.rng, options)


def _join(parts: Sequence[str], last: str = " and ") -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + last + parts[-1]


_NUMBERS = {2: "two", 3: "three"}
_BASE_RELATIONS = {
    "above": ("above", "over"),
    "below": ("below", "under", "beneath"),
    "left": ("to the left of", "left of"),
    "right": ("to the right of", "right of"),
}


def _base_caption(w: _Writer, plan: CaptionPlan) -> str:
    """Training style: noun phrases, "there is/are", "an image of" and relation words."""
    items = w.items(plan)
    if plan.relation is not None:
        body = f"{items[0]} {w.pick(*_BASE_RELATIONS[plan.relation])} {items[1]}"
        if len(items) > 2:
            body += w.pick(" and ", " plus ", " with ") + items[2]
    else:
        body = _join(items, w.pick(" and ", " and ", " with "))
    n = len(plan.objects)
    if plan.count:
        prefix = f"{_NUMBERS[n]} {w.pick('shapes', 'objects', 'figures')}: "
    else:
        verb = "there is " if n == 1 and plan.relation is None else "there are "
        prefix = w.pick("", "", "an image of ", "a picture of ", "a drawing of ", "a picture with ", verb)
    if prefix == "there are " and plan.relation is not None:
        prefix = ""
    suffix = f" {w.pick('on', 'over', 'with')} a {w.background()} background" if plan.background else ""
    return prefix + body + suffix


def _formal_caption(w: _Writer, plan: CaptionPlan) -> str:
    items = w.items(plan)
    if plan.relation is not None:
        rel = {
            "above": "situated directly above",
            "below": "situated directly beneath",
            "left": "positioned to the left of",
            "right": "positioned to the right of",
        }[plan.relation]
        body = f"{items[0]} {rel} {items[1]}"
        if len(items) > 2:
            body += f", together with {items[2]}"
    else:
        body = _join(items, w.pick(", together with ", ", accompanied by "))
    opener = w.pick("The image depicts ", "This illustration features ", "The composition presents ")
    if plan.count:
        opener = f"The composition comprises {_NUMBERS[len(items)]} figures: "
    suffix = f", set against a {w.background()} backdrop" if plan.background else ""
    return f"{opener}{body}{suffix}."


def _casual_caption(w: _Writer, plan: CaptionPlan) -> str:
    items = w.items(plan)
    if plan.relation is not None:
        rel = {
            "above": "chillin above",
            "below": "hangin under",
            "left": "just left of",
            "right": "just right of",
        }
        body = f"{items[0]} {rel[plan.relation]} {items[1]}"
        if len(items) > 2:
            body += f" n {items[2]}"
    else:
        body = _join(items, w.pick(" n ", " and also ", " plus like "))
    opener = w.pick("so there's ", "ok so ", "lol just ", "basically ", "yo ")
    if plan.count:
        opener = f"ok so {_NUMBERS[len(items)]} things: "
    suffix = f" on some {w.background()} bg" if plan.background else ""
    return opener + body + suffix + w.pick("", " lol", " haha", " i guess")


def _passive_caption(w: _Writer, plan: CaptionPlan) -> str:
    verbs = ("is drawn", "is painted", "is placed", "can be seen", "is depicted")
    if plan.relation is not None:
        rel = {"above": "above", "below": "below", "left": "to the left of", "right": "to the right of"}
        body = f"{w.noun(plan.objects[0], plan.sizes[0])} {w.pick(*verbs)} {rel[plan.relation]} "
        body += w.noun(plan.objects[1], plan.sizes[1])
        if len(plan.objects) > 2:
            body += f", and {w.noun(plan.objects[2], plan.sizes[2])} {w.pick(*verbs)} as well"
    else:
        clauses = [
            f"{w.noun(i, s)} {w.pick(*verbs)}" + (f" {w.place(i)}" if p else "")
            for i, s, p in zip(plan.objects, plan.sizes, plan.positions, strict=True)
        ]
        body = _join(clauses, ", and ")
    if plan.count:
        body = f"{_NUMBERS[len(plan.objects)]} shapes are shown: {body}"
    suffix = f", all drawn on a {w.background()} background" if plan.background else ""
    return body + suffix


def _active_caption(w: _Writer, plan: CaptionPlan) -> str:
    items = w.items(plan)
    if plan.relation is not None:
        verb = {
            "above": "hovers above",
            "below": "sits beneath",
            "left": "stands left of",
            "right": "stands right of",
        }
        body = f"{items[0]} {verb[plan.relation]} {items[1]}"
        if len(items) > 2:
            body += f" while {items[2]} watches"
        suffix = (
            f", and the artist filled the background with a {w.background()} pattern"
            if plan.background
            else ""
        )
        return body + suffix
    agent = w.pick("someone drew ", "an artist painted ", "the illustrator placed ", "a child sketched ")
    if plan.count:
        agent = f"the artist drew {_NUMBERS[len(items)]} shapes: "
    suffix = f" and covered the background with a {w.background()} pattern" if plan.background else ""
    return agent + _join(items) + suffix


def _bt_caption(w: _Writer, plan: CaptionPlan) -> str:
    """Back-translation artefacts: fronted places, dropped articles, rarer synonyms, odd prepositions."""
    items = []
    for i, s, p in zip(plan.objects, plan.sizes, plan.positions, strict=True):
        noun = w.noun(i, s, article=w.rng.random() < 0.5)
        if noun.startswith(("a ", "an ")) and w.rng.random() < 0.3:
            noun = "one " + noun.split(" ", 1)[1]
        items.append(
            f"{w.place(i)} {noun}" if p and w.rng.random() < 0.6 else (f"{noun} {w.place(i)}" if p else noun)
        )
    if plan.relation is not None:
        rel = {"above": "above of", "below": "under of", "left": "left from", "right": "right from"}
        body = f"{items[0]} {rel[plan.relation]} {items[1]}"
        if len(items) > 2:
            body += f", besides {items[2]}"
    else:
        body = _join(items, w.pick(" and ", ", and also ", " as well as "))
    opener = w.pick("it gives ", "one sees ", "to see is ", "", "")
    if plan.count:
        opener = f"it gives {_NUMBERS[len(items)]} forms: "
    suffix = f" before {w.background()} background" if plan.background else ""
    return opener + body + suffix


_STYLE_WRITERS: dict[str, Callable[[_Writer, CaptionPlan], str]] = {
    "base": _base_caption,
    "formal": _formal_caption,
    "casual": _casual_caption,
    "passive": _passive_caption,
    "active": _active_caption,
    "back_translation": _bt_caption,
}


def write_caption(scene: Scene, plan: CaptionPlan, style: str, rng: np.random.Generator) -> str:
    """Word ``plan`` in ``style`` ("base" = the training style, or one of STYLES)."""
    if style not in _STYLE_WRITERS:
        raise ValueError(f"unknown caption style {style!r}; expected 'base' or one of {', '.join(STYLES)}")
    return _STYLE_WRITERS[style](_Writer(scene, style, rng), plan)


# ----------------------------------------------------------------------------- splits
def _check_split(split: str, seed: int) -> int:
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown scenes split {split!r}; expected one of {', '.join(SPLIT_CODES)}")
    if seed < 0:
        raise ValueError(f"scenes seed must be >= 0, got {seed}")
    return SPLIT_CODES[split]


def scene_rng(seed: int, split: str, index: int, purpose: int) -> np.random.Generator:
    """The generator for one (split, image, purpose): disjoint streams per split and index."""
    return np.random.default_rng([seed, _check_split(split, seed), index, purpose])


def generate_scenes(split: str, count: int, seed: int = 0) -> list[Scene]:
    """The first ``count`` scenes of ``split`` (scene ``i`` depends only on seed, split and i)."""
    return [sample_scene(scene_rng(seed, split, i, _PURPOSE_SCENE)) for i in range(count)]


def scenes_split(split: str, num_images: int, seed: int = 0, variants: bool = True) -> RetrievalDataset:
    """A scenes RetrievalDataset of ``num_images`` images and 5 captions each.

    ``variants`` adds the held-out caption styles as ``text_variants`` (skipped for the
    training split, which never uses them).
    """
    _check_split(split, seed)
    if num_images < 1:
        raise ValueError(f"scenes num_images must be >= 1, got {num_images}")
    scenes = generate_scenes(split, num_images, seed)
    texts: list[str] = []
    styled: dict[str, list[str]] = {style: [] for style in STYLES} if variants else {}
    for index, scene in enumerate(scenes):
        rng = scene_rng(seed, split, index, _PURPOSE_CAPTIONS)
        plans = caption_plans(scene, rng)
        texts += [write_caption(scene, plan, "base", rng) for plan in plans]
        for k, style in enumerate(styled):
            rng = scene_rng(seed, split, index, _PURPOSE_STYLE + k)
            styled[style] += [write_caption(scene, plan, style, rng) for plan in plans]
    return RetrievalDataset(
        name="scenes" if split == "test" else f"scenes:{split}",
        images=GeneratedImages(num_images, lambda i: render_scene(scenes[i])),
        texts=texts,
        image_groups=np.arange(num_images),
        text_groups=np.repeat(np.arange(num_images), CAPTIONS_PER_IMAGE),
        text_variants=styled,
    )


def load_scenes_dataset(split: str = "test", seed: int = 0) -> RetrievalDataset:
    """The standard scenes split: test 1,000 images / 5,000 captions, val 1,000, train 12,000."""
    _check_split(split, seed)
    return scenes_split(split, SPLIT_SIZES[split], seed, variants=split != "train")


def load_spec(spec: str, **options: Any) -> RetrievalDataset:
    """``scenes`` (the test split) or ``scenes:<split>``; ``options`` go to :func:`load_scenes_dataset`."""
    split = spec.partition(":")[2]
    if split:
        options["split"] = split
    return load_scenes_dataset(**options)
