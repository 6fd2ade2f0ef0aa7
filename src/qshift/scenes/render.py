"""Rendering of a scene: a deterministic RGB image, 224x224 by default, drawn on demand.

224 px is the raw "photo" resolution the corruption constants are tuned for; the model resizes
it to its own input. Nothing is cached on disk: an image is a function of its scene.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from qshift.scenes.generator import Background, Scene, SceneObject

RAW_SIZE = 224


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
