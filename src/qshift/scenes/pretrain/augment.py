"""Real-camera variety for the training renders: lighting, colour, degradations, lens specks.

Our own augmentations, never the benchmark's corruption functions: the model must meet the
corruptions at test time, not in training.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from qshift.scenes.pretrain.config import TrainConfig


def _smooth_field(rng: np.random.Generator, size: int, cells: int = 4) -> np.ndarray:
    """A smooth random field in about [0, 1]: bicubic upsampling of a coarse uniform grid."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)[..., None]


def _affine(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small rotation, scale and shift (the caption's grid cells stay true)."""
    s = x.shape[0]
    m = cv2.getRotationMatrix2D((s / 2, s / 2), rng.uniform(-6, 6), rng.uniform(0.92, 1.08))
    m[:, 2] += rng.uniform(-0.03, 0.03, size=2) * s
    return cv2.warpAffine(x, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _lighting(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven illumination and haze: a smooth gain field, then a smooth veil of light."""
    s = x.shape[0]
    if rng.random() < 0.4:
        x = x * (1 + rng.uniform(0.1, 0.4) * (2 * _smooth_field(rng, s) - 1))
    if rng.random() < 0.3:
        veil = rng.uniform(0.1, 0.45) * (0.4 + 0.6 * _smooth_field(rng, s))
        tone = rng.uniform(0.45, 1.0) * rng.uniform(0.92, 1.08, size=3).astype(np.float32)
        x = x * (1 - veil) + veil * tone
    return x


def _colour(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast, brightness, saturation, gamma and a colour cast, each with its own chance."""
    if rng.random() < 0.5:
        x = x.mean() + math.exp(rng.uniform(math.log(0.4), math.log(1.25))) * (x - x.mean())
    if rng.random() < 0.4:
        x = x + rng.uniform(-0.15, 0.15)
    if rng.random() < 0.3:
        grey = x.mean(axis=2, keepdims=True)
        x = grey + rng.uniform(0.5, 1.3) * (x - grey)
    if rng.random() < 0.3:
        x = np.clip(x, 0.0, 1.0) ** rng.uniform(0.75, 1.35)
    if rng.random() < 0.3:
        x = x * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    return x


def _degrade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mild camera degradations: defocus, low resolution and sensor noise."""
    s = x.shape[0]
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 0.8) * s / 64)
    if rng.random() < 0.1:
        small = max(8, round(s * rng.uniform(0.6, 0.85)))
        x = cv2.resize(cv2.resize(x, (small, small), interpolation=cv2.INTER_AREA), (s, s))
    if rng.random() < 0.3:
        sigma = math.exp(rng.uniform(math.log(0.01), math.log(0.08)))
        x = x + rng.normal(0.0, sigma, size=x.shape).astype(np.float32)
    return x


def lens_specks(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dirt or droplets on the lens: many small light (or dark) dots and short streaks, half-opaque.

    The streaks share one direction (wind, motion), and each image gets one tone, so the layer
    reads as one occluding texture over the scene rather than as scene content.
    """
    s = x.shape[0]
    mask = np.zeros((s, s), dtype=np.float32)
    angle = rng.uniform(0, math.pi)
    for _ in range(int(rng.integers(s // 2, 4 * s))):
        x0, y0 = rng.uniform(0, s, size=2)
        length = rng.uniform(0, 0.08 * s)
        tilt = angle + rng.normal(0, 0.2)
        x1, y1 = x0 + length * math.cos(tilt), y0 + length * math.sin(tilt)
        p0, p1 = (round(x0 * 16), round(y0 * 16)), (round(x1 * 16), round(y1 * 16))
        cv2.line(mask, p0, p1, 1.0, int(rng.integers(1, 3)), cv2.LINE_AA, shift=4)
    tone = rng.uniform(0.8, 1.0) if rng.random() < 0.7 else rng.uniform(0.0, 0.2)
    alpha = rng.uniform(0.4, 0.9) * np.clip(mask, 0.0, 1.0)[..., None]
    return x * (1 - alpha) + alpha * tone


def augment_image(
    image: np.ndarray,
    rng: np.random.Generator,
    clean: float = TrainConfig.clean_fraction,
    specks: float = TrainConfig.specks,
) -> np.ndarray:
    """One H×W×3 uint8 image with random real-camera variety (or, with chance ``clean``, untouched).

    Ranges are set for the model's input resolution (the image is augmented after resizing) and
    kept mild: at 64-96 px, stronger blur, noise or JPEG erased the shapes and slowed learning
    about 3× (docs/scenes.md). ``specks`` is the chance of a lens-dirt layer (:func:`lens_specks`);
    at 0 no random number is drawn for it, so recipes without it keep their exact training stream.
    """
    if rng.random() < clean:
        return image
    x = image.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        x = _affine(x, rng)
    x = _degrade(_colour(_lighting(x, rng), rng), rng)
    if specks > 0 and rng.random() < specks:
        x = lens_specks(x, rng)
    out = (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if rng.random() < 0.2:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 85))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out
