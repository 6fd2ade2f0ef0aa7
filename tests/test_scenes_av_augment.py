"""The training augmentations of scenes-av sounds: coloured background noise and gain."""

import numpy as np
import pytest

from qshift.scenes_av.augment import AUDIO_NOISE, augment_audio, coloured_noise


def band_power(noise: np.ndarray, low: int, high: int) -> float:
    """Mean power of the rFFT bins ``low``–``high`` (bin k is k Hz for one second at any rate)."""
    return float((np.abs(np.fft.rfft(noise)) ** 2)[low:high].mean())


def test_coloured_noise_has_unit_rms_and_the_asked_spectral_slope():
    rng = np.random.default_rng(0)
    noise = coloured_noise((3, 16000), np.array([0.0, 1.0, 2.0]), rng)
    assert noise.shape == (3, 16000)
    np.testing.assert_allclose(np.sqrt((noise**2).mean(axis=1)), 1.0, rtol=1e-9)
    # a decade higher in frequency: power falls by 10^β (white 1, pink 10, brown 100)
    ratios = [band_power(row, 100, 200) / band_power(row, 1000, 2000) for row in noise]
    for ratio, expected in zip(ratios, (1.0, 10.0, 100.0), strict=True):
        assert ratio == pytest.approx(expected, rel=0.25)


def test_augment_audio_keeps_shape_and_dtype_and_spares_the_clean_share():
    waves = np.random.default_rng(1).uniform(-0.5, 0.5, (8, 4000)).astype(np.float32)
    untouched = augment_audio(waves, clean=1.0, rng=np.random.default_rng(2))
    assert np.array_equal(untouched, waves)
    changed = augment_audio(waves, clean=0.0, rng=np.random.default_rng(2))
    again = augment_audio(waves, clean=0.0, rng=np.random.default_rng(2))
    assert changed.dtype == np.float32 and changed.shape == waves.shape
    assert np.array_equal(changed, again) and not np.allclose(changed, waves)
    assert np.abs(changed).max() <= 1.0
    # the added noise stays under AUDIO_NOISE in RMS (the ±2 dB gain aside)
    gain_free = augment_audio(np.zeros_like(waves), clean=0.0, rng=np.random.default_rng(3))
    assert np.sqrt((gain_free**2).mean(axis=1)).max() <= AUDIO_NOISE + 1e-6
