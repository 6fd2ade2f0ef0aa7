"""Tests of the six audio shifts (qshift.shifts.audio): levels, determinism, shapes, recordings."""

from __future__ import annotations

import numpy as np
import pytest

from qshift import registry
from qshift.shifts import audio, names
from qshift.shifts._audio_noises import synthesise
from qshift.utils.media import write_audio

RATE = 16000
ENVIRONMENTAL = ("traffic", "crowd", "rain", "thunder", "wind")


def tone_mix(seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    """Two tones and a little noise, peak about 0.4: a clean clip with headroom."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(123)
    tones = 0.25 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1300 * t)
    wave = tones + 0.02 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


def snr_db(clean: np.ndarray, shifted: np.ndarray) -> float:
    clean = clean.astype(np.float64)
    return float(10 * np.log10(np.sum(clean**2) / np.sum((shifted - clean) ** 2)))


def band_share(noise: np.ndarray, low: float, high: float, rate: int = RATE) -> float:
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1 / rate)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


def test_names_registry_lines_and_callables():
    assert audio.AUDIO_SHIFTS == ("gaussian_noise", "traffic", "crowd", "rain", "thunder", "wind")
    assert tuple(names("audio")) == audio.AUDIO_SHIFTS
    for name in audio.AUDIO_SHIFTS:
        shift = getattr(audio, name)
        assert callable(shift) and shift.__name__ == name and shift.__doc__
        assert registry.load("shift", name, modality="audio") is shift


@pytest.mark.parametrize("name", audio.AUDIO_SHIFTS)
@pytest.mark.parametrize("seed", [0, 5])
def test_snr_falls_strictly_with_severity(name, seed):
    clean = tone_mix()
    snrs = [snr_db(clean, getattr(audio, name)(clean, severity, seed)) for severity in range(1, 6)]
    assert all(a > b + 0.5 for a, b in zip(snrs, snrs[1:], strict=False)), snrs
    assert snrs[0] < 15  # severity 1 is already a real corruption


def test_gaussian_noise_std_schedule():
    silence = np.zeros(20000, dtype=np.float32)
    stds = [float(audio.gaussian_noise(silence, severity, seed=1).std()) for severity in range(1, 4)]
    assert stds == pytest.approx([0.08, 0.12, 0.18], rel=0.03)


@pytest.mark.parametrize("name", ENVIRONMENTAL)
def test_gain_is_amplitude_times_ten_to_the_g_over_20(name):
    """READ's dB gains scale one noise draw at the reference RMS r: x + r · 10^(g/20) · noise, saturated."""
    silence = np.zeros(RATE, dtype=np.float32)
    noise = synthesise(name, RATE, RATE, np.random.default_rng(2))
    for severity, gain_db in zip(range(1, 6), (1, 2, 4, 6, 8), strict=True):
        expected = np.clip(audio.NOISE_RMS * 10 ** (gain_db / 20) * noise, -1, 1)
        np.testing.assert_allclose(getattr(audio, name)(silence, severity, seed=2), expected, atol=1e-6)


@pytest.mark.parametrize("name", audio.AUDIO_SHIFTS)
def test_deterministic_per_seed_and_different_across_seeds(name):
    clean = tone_mix(0.5)
    shift = getattr(audio, name)
    first, again, other = shift(clean, 3, seed=7), shift(clean, 3, seed=7), shift(clean, 3, seed=8)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.array_equal(clean, tone_mix(0.5))  # the input is not modified


@pytest.mark.parametrize("name", audio.AUDIO_SHIFTS)
@pytest.mark.parametrize("length", [1, 2, 7, 333])
def test_any_length_keeps_length_dtype_and_range(name, length):
    clean = tone_mix()[:length]
    shifted = getattr(audio, name)(clean, 5, seed=1)
    assert shifted.shape == (length,) and shifted.dtype == np.float32
    assert np.isfinite(shifted).all() and np.abs(shifted).max() <= 1.0
    assert not np.array_equal(shifted, clean)


@pytest.mark.parametrize("name", ENVIRONMENTAL)
@pytest.mark.parametrize("rate", [8000, 44100])
def test_sample_rate_option(name, rate):
    clean = tone_mix(0.5, rate)
    shifted = getattr(audio, name)(clean, 3, seed=0, sample_rate=rate)
    assert shifted.shape == clean.shape and shifted.dtype == np.float32
    assert snr_db(clean, shifted) < 15


def test_sample_rate_shapes_the_noise_in_hertz():
    """Thunder is a rumble below 200 Hz at any rate: the recipe is in Hz, not in samples."""
    for rate in (16000, 48000):
        noise = synthesise("thunder", rate, rate, np.random.default_rng(0))
        assert band_share(noise, 0, 200, rate) > 0.7


@pytest.mark.parametrize(
    ("name", "low", "high", "share"),
    [
        ("traffic", 0, 3200, 0.9),  # rumble, tyres and engines; little hiss
        ("crowd", 100, 3200, 0.9),  # voices: the speech band
        ("rain", 800, 8001, 0.8),  # hiss and droplet rings
        ("thunder", 0, 200, 0.7),  # rumble
        ("wind", 0, 1600, 0.8),  # buffeting, howl and whistle
    ],
)
def test_noises_sit_in_their_documented_bands(name, low, high, share):
    for seed in range(3):
        noise = synthesise(name, 2 * RATE, RATE, np.random.default_rng(seed))
        assert noise.shape == (2 * RATE,)
        assert float(np.sqrt(np.mean(noise**2))) == pytest.approx(1.0)
        assert band_share(noise, low, high) > share


def test_noises_differ_from_each_other():
    noises = [synthesise(name, RATE, RATE, np.random.default_rng(0)) for name in ENVIRONMENTAL]
    spectra = [np.abs(np.fft.rfft(noise)) for noise in noises]
    for i in range(len(spectra)):
        for j in range(i + 1, len(spectra)):
            assert np.corrcoef(spectra[i], spectra[j])[0, 1] < 0.9, (ENVIRONMENTAL[i], ENVIRONMENTAL[j])


def test_noise_dir_mixes_the_recording_looped_and_resampled(tmp_path):
    """A 0.25 s 3 kHz tone recorded at 8 kHz, mixed into 1 s at 16 kHz: periodic, 3 kHz, +1 dB."""
    record_rate, amplitude = 8000, 0.05
    t = np.arange(record_rate // 4) / record_rate
    write_audio(tmp_path / "rain.wav", amplitude * np.sin(2 * np.pi * 3000 * t), record_rate)
    silence = np.zeros(RATE, dtype=np.float32)
    noise = audio.rain(silence, 1, seed=3, noise_dir=tmp_path).astype(np.float64)
    period = RATE // 4
    np.testing.assert_allclose(noise[:-period], noise[period:], atol=1e-6)
    assert band_share(noise, 2900, 3100) > 0.99
    rms = float(np.sqrt(np.mean(noise**2)))
    assert rms == pytest.approx(amplitude / np.sqrt(2) * 10 ** (1 / 20), rel=0.02)
    assert not np.array_equal(noise, audio.rain(silence, 1, seed=4, noise_dir=str(tmp_path)))


def test_noise_dir_without_the_recording_names_it(tmp_path):
    with pytest.raises(ValueError, match=r"wind\.wav"):
        audio.wind(tone_mix(0.1), 1, noise_dir=tmp_path)


@pytest.mark.parametrize(
    ("wave", "kwargs", "message"),
    [
        (np.zeros((2, 100), np.float32), {}, "1-D"),
        (np.zeros(100, np.float64), {}, "float32"),
        (np.zeros(0, np.float32), {}, "empty"),
        (np.array([0.0, np.nan], np.float32), {}, "non-finite"),
        ([0.0, 0.1], {}, "1-D"),
        (np.zeros(100, np.float32), {"severity": 0}, "severity"),
        (np.zeros(100, np.float32), {"severity": 6}, "severity"),
        (np.zeros(100, np.float32), {"seed": -1}, "seed"),
        (np.zeros(100, np.float32), {"volume": 2}, "volume"),
        (np.zeros(100, np.float32), {"sample_rate": 100}, "sample_rate"),
    ],
)
@pytest.mark.parametrize("name", ["gaussian_noise", "rain"])
def test_invalid_input_raises_naming_the_problem(name, wave, kwargs, message):
    arguments = {"severity": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        getattr(audio, name)(wave, **arguments)


def test_gaussian_noise_takes_no_noise_dir(tmp_path):
    with pytest.raises(ValueError, match="noise_dir"):
        audio.gaussian_noise(tone_mix(0.1), 1, noise_dir=tmp_path)
