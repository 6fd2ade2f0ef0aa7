"""Random textures and kernels for the image corruptions: plasma fog, procedural frost, disk and
motion-blur kernels. Every random draw comes from the caller's ``np.random.Generator``."""

from __future__ import annotations

import math

import cv2
import numpy as np

#: side length of the images ImageNet-C's pixel constants were tuned for
REFERENCE_SIZE = 224

#: tint of the frost layer (RGB); real frost photographs are white with a slight blue cast
_FROST_TINT = np.array([0.84, 0.92, 1.0], dtype=np.float32)


def next_power_of_two(value: int) -> int:
    """Smallest power of two >= ``value`` (and >= 2, the smallest map diamond-square can fill)."""
    return max(2, 1 << (max(value, 1) - 1).bit_length())


def plasma_fractal(mapsize: int, wibble_decay: float, rng: np.random.Generator) -> np.ndarray:
    """Square diamond-square height map of side ``mapsize`` (a power of two), scaled to [0, 1].

    The map wraps around (``np.roll``), as ImageNet-C's fog map does; ``wibble_decay`` is how fast
    the random perturbation shrinks per octave, so larger values give smoother fog.
    """
    if mapsize < 2 or mapsize & (mapsize - 1):
        raise ValueError(f"plasma mapsize must be a power of two >= 2, got {mapsize}")
    heights = np.zeros((mapsize, mapsize), dtype=np.float64)
    step, wibble = mapsize, 100.0
    while step >= 2:
        half = step // 2
        corners = heights[0::step, 0::step]
        square_sum = corners + np.roll(corners, -1, axis=0)
        square_sum = square_sum + np.roll(square_sum, -1, axis=1)
        heights[half::step, half::step] = _wibbled_mean(square_sum, wibble, rng)
        centres = heights[half::step, half::step]
        corners = heights[0::step, 0::step]
        # midpoints of horizontal edges: two corners left/right, two centres above/below
        row_edge_sum = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        heights[0::step, half::step] = _wibbled_mean(row_edge_sum, wibble, rng)
        col_edge_sum = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        heights[half::step, 0::step] = _wibbled_mean(col_edge_sum, wibble, rng)
        step = half
        wibble /= wibble_decay
    heights -= heights.min()
    peak = heights.max()
    return (heights / peak if peak > 0 else heights).astype(np.float32)


def _wibbled_mean(four_sum: np.ndarray, wibble: float, rng: np.random.Generator) -> np.ndarray:
    """Mean of four neighbours plus the diamond-square perturbation (ImageNet-C's scaling)."""
    return four_sum / 4 + wibble * rng.uniform(-wibble, wibble, four_sum.shape)


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """Normalised anti-aliased disk of ``radius`` pixels (defocus blur), as in ImageNet-C.

    ImageNet-C blurs the binary disk with a 3×3 Gaussian (5×5 above radius 8) of sigma
    ``alias_blur``; a margin of two pixels keeps that blur inside the kernel.
    """
    extent = math.ceil(radius) + 2
    axis = np.arange(-extent, extent + 1, dtype=np.float32)
    disk = (axis[None, :] ** 2 + axis[:, None] ** 2 <= radius**2).astype(np.float32)
    ksize = 3 if radius <= 8 else 5
    disk = cv2.GaussianBlur(disk, (ksize, ksize), sigmaX=alias_blur)
    return disk / disk.sum()


def motion_kernel(radius: int, sigma: float, angle_deg: float) -> np.ndarray:
    """Correlation kernel of a one-sided Gaussian-weighted streak of ``2·radius + 1`` taps.

    Tap ``i`` (weight ``exp(-i²/2σ²)``) samples the image ``i`` pixels away along ``angle_deg``,
    the formulation `imagecorruptions` uses to replace ImageMagick's motion blur in ImageNet-C.
    """
    taps = 2 * radius + 1
    offsets = np.arange(taps, dtype=np.float64)
    weights = np.exp(-(offsets**2) / (2 * max(sigma, 1e-3) ** 2))
    weights /= weights.sum()
    angle = np.deg2rad(angle_deg)
    rows = np.ceil(offsets * np.sin(angle) - 0.5).astype(int)
    cols = np.ceil(offsets * np.cos(angle) - 0.5).astype(int)
    size = 2 * taps + 1
    kernel = np.zeros((size, size), dtype=np.float32)
    np.add.at(kernel, (rows + taps, cols + taps), weights)
    return kernel


def frost_texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Procedural frost on glass: H×W×3 float32 in [0, 1].

    Stands in for ImageNet-C's six frost photographs: patchy ice density (smooth noise) times
    a mesh of thin ice needles with side branches at ±60° (hexagonal ice growth) and a soft
    glow around them; mean about 0.55 (bright ice, so that the heavier blends of the
    higher severities also change the image more). It is drawn with the shorter side
    at 224 px and resized, so the texture covers the same share of the picture at any size.
    """
    factor = REFERENCE_SIZE / min(height, width)
    ref_height, ref_width = max(1, round(height * factor)), max(1, round(width * factor))
    density = np.clip(0.35 + 0.9 * _smooth_noise(ref_height, ref_width, 40.0, rng), 0.0, 1.0)
    needles = _ice_needles(ref_height, ref_width, rng)
    glow = cv2.GaussianBlur(needles, (0, 0), sigmaX=2.0)
    haze = _smooth_noise(ref_height, ref_width, 10.0, rng)
    frost = density * (0.21 + 0.29 * haze + 0.92 * needles + 1.84 * glow)
    shrinking = factor > 1
    frost = cv2.resize(
        frost, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    return np.clip(frost[..., None] * _FROST_TINT, 0.0, 1.0)


def _smooth_noise(height: int, width: int, cell: float, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise on a grid of ``cell``-pixel spacing, bicubically upsampled to H×W in ~[0, 1]."""
    cell = max(cell, 1.0)
    grid = rng.random((math.ceil(height / cell) + 2, math.ceil(width / cell) + 2), dtype=np.float32)
    up = cv2.resize(grid, (math.ceil(grid.shape[1] * cell), math.ceil(grid.shape[0] * cell)), cv2.INTER_CUBIC)
    top, left = rng.integers(0, up.shape[0] - height + 1), rng.integers(0, up.shape[1] - width + 1)
    return up[top : top + height, left : left + width]


def _ice_needles(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """H×W float32 canvas of anti-aliased ice needles (2–30 px), each with a branch at ±60°."""
    count = max(8, round(height * width / 75.0))
    starts = rng.random((count, 2)) * (width, height)
    angles = rng.uniform(0.0, np.pi, count)
    lengths = 2.0 + rng.exponential(9.0, count)
    ends = starts + lengths[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    roots = starts + rng.uniform(0.2, 0.8, (count, 1)) * (ends - starts)
    signs = rng.choice(np.array([-1.0, 1.0]), count)
    branch_angles = angles + signs * np.pi / 3
    branch_ends = roots + 0.45 * lengths[:, None] * np.stack(
        [np.cos(branch_angles), np.sin(branch_angles)], 1
    )
    segments = np.concatenate([np.stack([starts, ends], 1), np.stack([roots, branch_ends], 1)])
    brightness = rng.integers(0, 3, len(segments))
    canvas = np.zeros((height, width), dtype=np.uint8)
    fixed_point = 4  # sub-pixel bits for cv2.polylines
    points = np.rint(segments * (1 << fixed_point)).astype(np.int32)
    for level, value in enumerate((110, 180, 255)):
        chosen = list(points[brightness == level].reshape(-1, 2, 1, 2))
        cv2.polylines(canvas, chosen, False, value, 1, cv2.LINE_AA, fixed_point)
    return canvas.astype(np.float32) / 255.0
