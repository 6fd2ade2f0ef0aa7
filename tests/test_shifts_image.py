"""Tests of the 16 image corruptions (qshift.shifts.image) and their registry entry."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np
import pytest

from qshift import shifts
from qshift.shifts import names
from qshift.shifts.image import corrupt

EXPECTED_NAMES = [
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
]
DETERMINISTIC = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression"}


def textured_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour blobs plus fine grain (mean about 0.4, like photographs): edges and texture."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((max(2, height // 12), max(2, width // 12), 3), dtype=np.float32)
    blobs = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0.0, 0.08, (height, width, 3)).astype(np.float32)
    return np.rint(np.clip(0.1 + 0.6 * blobs + grain, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return textured_image(180, 260)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_names_order_and_registry():
    assert names("image") == EXPECTED_NAMES
    assert shifts.names("image") == EXPECTED_NAMES


def test_registry_apply_matches_corrupt(image):
    assert np.array_equal(shifts.apply("fog", image, 3, seed=7), corrupt("fog", image, 3, 7))


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_corruption_shape_determinism_and_severity(name, image):
    first = corrupt(name, image, 5, seed=1)
    assert first.shape == image.shape and first.dtype == np.uint8
    assert np.array_equal(first, corrupt(name, image, 5, seed=1))
    other_seed = corrupt(name, image, 5, seed=2)
    if name in DETERMINISTIC:
        assert np.array_equal(first, other_seed)
    else:
        assert not np.array_equal(first, other_seed)
    mild = corrupt(name, image, 1, seed=1)
    assert mean_abs_diff(first, image) > mean_abs_diff(mild, image) > 0


@pytest.mark.parametrize("name", EXPECTED_NAMES)
@pytest.mark.parametrize("shape", [(64, 64, 3), (33, 47, 3), (1, 9, 3)])
def test_small_and_odd_sizes(name, shape):
    small = textured_image(*shape[:2], seed=3)
    for severity in (1, 5):
        out = corrupt(name, small, severity, seed=0)
        assert out.shape == shape and out.dtype == np.uint8


def test_input_not_modified(image):
    before = image.copy()
    for name in EXPECTED_NAMES:
        corrupt(name, image, 5, seed=0)
    assert np.array_equal(image, before)


def test_pixelate_keeps_width_and_height_and_square_blocks():
    wide = textured_image(48, 120)
    out = corrupt("pixelate", wide, 5, seed=0)  # factor 0.25: 30×12 blocks of 4×4 pixels
    assert out.shape == wide.shape
    for offset in (1, 2, 3):
        assert np.array_equal(out[:, 0::4], out[:, offset::4])
        assert np.array_equal(out[0::4], out[offset::4])
    assert not np.array_equal(out[:, 0::4][:, :-1], out[:, 4::4])


def test_glass_blur_scrambles_the_whole_image():
    big = textured_image(300, 400)
    a, b = corrupt("glass_blur", big, 5, seed=0), corrupt("glass_blur", big, 5, seed=1)
    # the blurs are deterministic: seed-dependent pixels come from the shuffle only
    corner = np.s_[240:, 240:]
    assert mean_abs_diff(a[corner], b[corner]) > 1.0
    assert mean_abs_diff(a[-3:, -3:], b[-3:, -3:]) > 0


def test_blur_radius_scales_with_image_size():
    small = textured_image(224, 224, seed=5)
    large = cv2.resize(small, (448, 448), interpolation=cv2.INTER_CUBIC)
    blurred_small = corrupt("defocus_blur", small, 5, seed=0)
    blurred_large = cv2.resize(
        corrupt("defocus_blur", large, 5, seed=0), (224, 224), interpolation=cv2.INTER_AREA
    )
    assert mean_abs_diff(blurred_small, small) > 8
    assert mean_abs_diff(blurred_large, blurred_small) < 2


def test_noise_constants_follow_imagenet_c():
    grey = np.full((180, 260, 3), 128, dtype=np.uint8)
    noisy = corrupt("gaussian_noise", grey, 1, seed=0).astype(np.float64)
    assert noisy.std() / 255 == pytest.approx(0.08, rel=0.03)
    impulse = corrupt("impulse_noise", grey, 5, seed=0)
    assert np.mean(impulse != 128) == pytest.approx(0.27, abs=0.01)
    assert np.mean(impulse == 255) == pytest.approx(0.135, abs=0.01)


def test_contrast_formula(image):
    expected = (image / 255.0 - image.mean(axis=(0, 1)) / 255.0) * 0.05 + image.mean(axis=(0, 1)) / 255.0
    out = corrupt("contrast", image, 5, seed=0)
    assert np.abs(out.astype(np.float64) - expected * 255).max() <= 0.51


def test_brightness_matches_hsv_value_shift():
    pixels = textured_image(6, 7, seed=9)
    pixels[0, 0] = 0  # black: V = 0 becomes grey
    out = corrupt("brightness", pixels, 3, seed=0)
    for (row, col), rgb in np.ndenumerate(pixels[..., 0]):
        hue, sat, value = colorsys.rgb_to_hsv(*(pixels[row, col] / 255.0))
        expected = np.array(colorsys.hsv_to_rgb(hue, sat, min(value + 0.3, 1.0))) * 255
        assert np.abs(out[row, col] - expected).max() <= 0.51, (row, col, rgb)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fizz", np.zeros((8, 8, 3), np.uint8), 3), "available: gaussian_noise, shot_noise"),
        (("fog", np.zeros((8, 8, 3), np.uint8), 0), "severity"),
        (("fog", np.zeros((8, 8, 3), np.uint8), 6), "severity"),
        (("fog", np.zeros((8, 8, 3), np.uint8), 2.0), "severity"),
        (("fog", np.zeros((8, 8), np.uint8), 3), "H×W×3"),
        (("fog", np.zeros((8, 8, 4), np.uint8), 3), "H×W×3"),
        (("fog", np.zeros((0, 8, 3), np.uint8), 3), "H×W×3"),
        (("fog", np.zeros((8, 8, 3), np.float32), 3), "uint8"),
        (("fog", [[[0, 0, 0]]], 3), "numpy array"),
    ],
)
def test_bad_inputs_raise(args, message):
    with pytest.raises(ValueError, match=message):
        corrupt(*args, seed=0)
