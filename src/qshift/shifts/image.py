"""The 16 ImageNet-C image corruptions at severities 1–5, for images of any size.

Severity constants follow ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019, ``make_imagenet_c.py``), except
elastic_transform, which uses the monotonic `imagecorruptions` variant (see its docstring). The
PyPI package `imagecorruptions` 1.1.2 (the usual generator of COCO-C / Flickr-C) does not import
on current setuptools (``pkg_resources``) and crashes in glass_blur and fog on current
scikit-image/numpy, hence this implementation on numpy/OpenCV/Pillow. It also avoids three bugs
of the original generators: pixelate swapping width and height, glass blur scrambling only the
top-left 224×224, and BGR/RGB mix-ups (every array here is RGB; OpenCV is only used for
channel-agnostic filters, plus RGB2GRAY named as such).

Resolution. ImageNet-C tuned spatial constants in pixels for 224×224 images. Here every *spatial
extent* is multiplied by ``s = min(H, W) / 224`` so that a corruption covers the same fraction of
the picture at any resolution (a 224-px blur radius would wipe out a 64-px image): defocus
radius, glass-blur sigma and displacement, motion-blur radius and sigma, snow flake size and
streak length, frost texture, and the elastic field's smoothness and displacement. Constants that
are not lengths stay as published: per-pixel noise, JPEG quality, brightness, contrast, zoom-blur
factors (already relative), the fog map (generated at the power of two >= max(H, W), hence
relative), pixelate's ratio (already a fraction of the image size; scaling it too would make
severities 1–4 no-ops on small images), and defocus's anti-aliasing sigma (a sub-pixel detail).
Integer lengths are rounded and kept >= 1 pixel.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PIL import Image

from qshift.shifts._image_textures import (
    REFERENCE_SIZE,
    disk_kernel,
    frost_texture,
    motion_kernel,
    next_power_of_two,
    plasma_fractal,
)

#: a corruption's draw: (contiguous H×W×3 uint8 image, severity 1–5, generator) -> image
Draw = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
#: the registered form of a corruption: (image, severity, seed=0) -> image
Corruption = Callable[..., np.ndarray]


def corruption(draw: Draw) -> Corruption:
    """Turn ``draw(image, severity, rng)`` into the registered shift ``(image, severity, seed=0)``.

    The shift checks its inputs and seeds the generator, so the result has the input's shape
    and dtype and depends only on the arguments; ``shift.draw`` keeps the raw function.
    """

    @functools.wraps(draw)
    def shift(image: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
        name = draw.__name__
        if options:
            raise ValueError(f"image corruption {name} takes no options, got {', '.join(sorted(options))}")
        if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or not 1 <= severity <= 5:
            raise ValueError(f"severity of {name} must be an integer in 1..5, got {severity!r}")
        if not isinstance(image, np.ndarray):
            raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError(f"image must be H×W×3 (RGB), got shape {image.shape}")
        if image.dtype != np.uint8:
            raise ValueError(f"image must be uint8, got dtype {image.dtype}")
        return draw(np.ascontiguousarray(image), int(severity), np.random.default_rng(seed))

    shift.draw = draw  # type: ignore[attr-defined]
    return shift


def _scale(image: np.ndarray) -> float:
    """Factor from ImageNet-C's 224-px constants to this image: ``min(H, W) / 224``."""
    return min(image.shape[:2]) / REFERENCE_SIZE


def _to_unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8, clipped and rounded (ImageNet-C truncates; rounding is unbiased)."""
    return np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def _gaussian_blur(unit: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with reflected borders (skimage's ``gaussian`` as ImageNet-C uses it)."""
    return cv2.GaussianBlur(unit, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)


# ---------------------------------------------------------------- noise


@corruption
def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of std σ (in [0, 1] units)."""
    sigma = (0.08, 0.12, 0.18, 0.26, 0.38)[severity - 1]
    noise = rng.standard_normal(image.shape, dtype=np.float32) * sigma
    return _to_uint8(_to_unit(image) + noise)


@corruption
def shot_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Poisson photon noise with ``λ`` photons at full intensity (fewer photons, more noise)."""
    photons = (60, 25, 12, 5, 3)[severity - 1]
    return _to_uint8(rng.poisson(_to_unit(image) * photons) / photons)


@corruption
def impulse_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper noise on a share of the channel values, half salt and half pepper.

    Like skimage's ``random_noise(mode="s&p")`` used by ImageNet-C, values are hit per channel.
    """
    amount = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    draw = rng.random(image.shape, dtype=np.float32)
    out = image.copy()
    out[draw < amount] = 0
    out[draw < amount / 2] = 255
    return out


@corruption
def speckle_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative Gaussian noise ``x + x·n``."""
    sigma = (0.15, 0.2, 0.35, 0.45, 0.6)[severity - 1]
    unit = _to_unit(image)
    return _to_uint8(unit + unit * rng.standard_normal(image.shape, dtype=np.float32) * sigma)


# ---------------------------------------------------------------- blur


@corruption
def defocus_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Convolution with an anti-aliased disk (out-of-focus lens); deterministic."""
    radius, alias_blur = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))[severity - 1]
    kernel = disk_kernel(radius * _scale(image), alias_blur)
    return _to_uint8(cv2.filter2D(_to_unit(image), -1, kernel, borderType=cv2.BORDER_REFLECT_101))


@corruption
def glass_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blur, locally shuffle pixels over the whole image, blur again (frosted glass)."""
    sigma, delta, iterations = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))[severity - 1]
    scale = _scale(image)
    sigma *= scale
    delta = max(1, round(delta * scale))
    pixels = _to_uint8(_gaussian_blur(_to_unit(image), sigma))
    for _ in range(iterations):
        _local_shuffle(pixels, delta, rng)
    return _to_uint8(_gaussian_blur(_to_unit(pixels), sigma))


def _local_shuffle(pixels: np.ndarray, delta: int, rng: np.random.Generator) -> None:
    """Swap every pixel with a random one at most ``delta`` rows/columns away, in place.

    ImageNet-C swaps pixel by pixel in a Python loop, each swap seeing the previous ones. Here
    the grid is split into ``(2·delta + 1)²`` lattice classes of pixels ``2·delta + 1`` apart:
    the swap windows of one class are disjoint, so a class is swapped at once with fancy
    indexing, and classes run one after another, so later swaps still see earlier ones. The
    relaxation is the order (class by class, not raster) and the offsets: symmetric in
    ``[-delta, delta]`` (ImageNet-C's ``randint`` stops at ``delta - 1``), clipped at the borders
    so that the whole image, edges included, is shuffled.
    """
    height, width = pixels.shape[:2]
    flat = pixels.reshape(height * width, -1)
    offsets = rng.integers(-delta, delta + 1, size=(2, height, width))
    period = 2 * delta + 1
    for row0 in range(period - 1, -1, -1):
        for col0 in range(period - 1, -1, -1):
            rows = np.arange(row0, height, period)[:, None]
            cols = np.arange(col0, width, period)[None, :]
            target_rows = np.clip(rows + offsets[0, rows, cols], 0, height - 1)
            target_cols = np.clip(cols + offsets[1, rows, cols], 0, width - 1)
            source = (rows * width + cols).ravel()
            target = (target_rows * width + target_cols).ravel()
            moved = flat[source]
            flat[source] = flat[target]
            flat[target] = moved


@corruption
def motion_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Streak blur along a random angle in [-45°, 45°] (camera shake)."""
    radius, sigma = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))[severity - 1]
    scale = _scale(image)
    kernel = motion_kernel(max(1, round(radius * scale)), sigma * scale, rng.uniform(-45, 45))
    return _to_uint8(cv2.filter2D(_to_unit(image), -1, kernel, borderType=cv2.BORDER_REPLICATE))


@corruption
def zoom_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Mean of the image and its zooms about the centre (each axis zoomed by the same factor)."""
    factors = (
        np.arange(1, 1.11, 0.01),
        np.arange(1, 1.16, 0.01),
        np.arange(1, 1.21, 0.02),
        np.arange(1, 1.26, 0.02),
        np.arange(1, 1.31, 0.03),
    )[severity - 1]
    unit = _to_unit(image)
    height, width = unit.shape[:2]
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    total = unit.copy()
    for factor in factors:
        warp = np.float32([[factor, 0, (1 - factor) * centre_x], [0, factor, (1 - factor) * centre_y]])
        total += cv2.warpAffine(
            unit, warp, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
    return _to_uint8(total / (len(factors) + 1))


# ---------------------------------------------------------------- weather


@corruption
def snow(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Zoomed, thresholded noise streaked by motion blur, over a whitened image."""
    mean, std, zoom, threshold, radius, sigma, blend = (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    )[severity - 1]
    unit = _to_unit(image)
    height, width = unit.shape[:2]
    scale = _scale(image)
    zoom = max(1.0, zoom * scale)  # flakes stay at least a pixel wide
    coarse_shape = (int(np.ceil(height / zoom)), int(np.ceil(width / zoom)))
    flakes = rng.normal(mean, std, coarse_shape).astype(np.float32)
    flakes = cv2.resize(flakes, (width, height), interpolation=cv2.INTER_LINEAR)
    flakes[flakes < threshold] = 0
    flakes = np.clip(flakes, 0.0, 1.0)
    kernel = motion_kernel(max(1, round(radius * scale)), sigma * scale, rng.uniform(-135, -45))
    flakes = cv2.filter2D(flakes, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    flakes = (np.rint(flakes * 255) / 255)[..., None]
    gray = cv2.cvtColor(unit, cv2.COLOR_RGB2GRAY)[..., None]
    unit = blend * unit + (1 - blend) * np.maximum(unit, gray * 1.5 + 0.5)
    return _to_uint8(unit + flakes + np.rot90(flakes, k=2))


@corruption
def frost(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blend with a procedural ice-on-glass texture: ``a·x + b·frost`` (ImageNet-C's weights)."""
    image_weight, frost_weight = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))[severity - 1]
    height, width = image.shape[:2]
    texture = frost_texture(height, width, rng)
    return _to_uint8(image_weight * _to_unit(image) + frost_weight * texture)


@corruption
def fog(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Add a plasma-fractal haze, then rescale to keep the image's maximum."""
    strength, decay = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))[severity - 1]
    unit = _to_unit(image)
    height, width = unit.shape[:2]
    haze = plasma_fractal(next_power_of_two(max(height, width)), decay, rng)[:height, :width, None]
    peak = unit.max()
    return _to_uint8((unit + strength * haze) * peak / (peak + strength))


@corruption
def brightness(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Add ``c`` to the HSV value channel; deterministic.

    With hue and saturation fixed, every RGB channel is proportional to V, so this equals
    scaling RGB by ``V'/V`` (and V' grey where V = 0), without a round trip through HSV.
    """
    shift = (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]
    unit = _to_unit(image)
    value = unit.max(axis=2, keepdims=True)
    new_value = np.minimum(value + shift, 1.0)
    ratio = np.divide(new_value, value, out=np.zeros_like(value), where=value > 0)
    return _to_uint8(np.where(value > 0, unit * ratio, new_value))


# ---------------------------------------------------------------- digital


@corruption
def contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Shrink every channel towards its mean by a factor ``c``; deterministic."""
    factor = (0.4, 0.3, 0.2, 0.1, 0.05)[severity - 1]
    unit = _to_unit(image)
    means = unit.mean(axis=(0, 1), keepdims=True)
    return _to_uint8((unit - means) * factor + means)


@corruption
def elastic_transform(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Resample along a smooth random displacement field.

    ImageNet-C's elastic transform is not monotonic in severity (levels 1–2 are large affine
    warps, 3–5 small local ones); this follows the monotonic variant of `imagecorruptions`
    (the COCO-C/Flickr-C generator): ``d = α · G_σ(U(-m, m))`` with α = 250·(.05 … .12) and, at
    224 px, σ = 2.24 px and m = 1.12 (1% and 0.5% of the side). Here σ and m scale with ``s``
    and α with ``s`` too (the smoothing divides the amplitude by about σ), so the displacement
    (std ≈ 1–2.4 px at 224) scales with the image; σ is isotropic at any aspect ratio.
    """
    alpha = 250 * (0.05, 0.065, 0.085, 0.1, 0.12)[severity - 1]
    scale = _scale(image)
    sigma, bound = 0.01 * REFERENCE_SIZE * scale, 0.005 * REFERENCE_SIZE * scale
    height, width = image.shape[:2]
    fields = [
        _gaussian_blur(rng.uniform(-bound, bound, (height, width)).astype(np.float32), sigma) * alpha * scale
        for _ in range(2)
    ]
    cols, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(
        _to_unit(image),
        cols + fields[0],
        rows + fields[1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return _to_uint8(warped)


@corruption
def pixelate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Box-downsample by a factor ``c`` per axis and box-upsample back; deterministic."""
    factor = (0.6, 0.5, 0.4, 0.3, 0.25)[severity - 1]
    height, width = image.shape[:2]
    small = (max(1, int(width * factor)), max(1, int(height * factor)))  # PIL sizes are (W, H)
    picture = Image.fromarray(image).resize(small, Image.Resampling.BOX)
    return np.asarray(picture.resize((width, height), Image.Resampling.BOX))


@corruption
def jpeg_compression(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Round trip through JPEG at quality 25/18/15/10/7 (Pillow); deterministic."""
    quality = (25, 18, 15, 10, 7)[severity - 1]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def corrupt(name: str, image: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    """Apply the registered image corruption ``name`` at ``severity`` (1–5) to an H×W×3 uint8 image."""
    from qshift import registry

    return registry.load("shift", name, modality="image")(image, severity, seed)
