"""Procedural environmental noises for the audio shifts: traffic, crowd, rain, thunder and wind.

READ mixes recordings of these sounds; qshift synthesises them from a seed so that the benchmark
needs no sound library. Each synthesiser maps (length, sample rate, generator) to a float64
noise of that length; :func:`synthesise` scales it to unit RMS (the shifts set its level).
Spectral shaping happens in the frequency domain on an FFT length of at least the clip's, so any
length and any sample rate work (bands above the Nyquist frequency are simply absent).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.fft import next_fast_len

Gain = Callable[[np.ndarray], np.ndarray]

SPEED_OF_SOUND = 343.0  # m/s, air at 20 °C
#: (F1, F2, F3) in Hz of the vowels /i ɛ a o u/: adult male means of Peterson & Barney,
#: "Control methods used in a study of the vowels", JASA 1952
VOWEL_FORMANTS = ((270, 2290, 3010), (530, 1840, 2480), (730, 1090, 2440), (570, 840, 2410), (300, 870, 2240))
FORMANT_LEVELS = (1.0, 0.5, 0.25)
FORMANT_BANDWIDTHS = (90.0, 110.0, 170.0)  # Hz, typical of speech
TALKERS = 12


# ---------------------------------------------------------------- building blocks


def band(freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    """Amplitude response of a 2nd-order Butterworth band-pass (``low = 0``: a low-pass)."""
    freqs = np.maximum(freqs, 1e-3)
    return 1.0 / np.sqrt((1 + (low / freqs) ** 4) * (1 + (freqs / high) ** 4))


def tilt(freqs: np.ndarray, exponent: float) -> np.ndarray:
    """Amplitude response giving power ∝ 1/f^exponent (1: pink, 2: brown), flat below 10 Hz."""
    return np.maximum(freqs, 10.0) ** (-exponent / 2)


def resonance(freqs: np.ndarray, centre: float, bandwidth: float) -> np.ndarray:
    """Amplitude response of a resonance at ``centre`` with half-power ``bandwidth`` (Hz)."""
    return 1.0 / np.sqrt(1 + ((freqs - centre) / (bandwidth / 2)) ** 2)


def fft_size(length: int) -> int:
    """A fast FFT length of at least ``length`` (filtering on it is circular, which stationary
    noises do not mind)."""
    return next_fast_len(max(length, 2), real=True)


def shaped_noise(length: int, rate: int, rng: np.random.Generator, gain: Gain) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ``gain(f)``, unit RMS."""
    size = fft_size(length)
    freqs = np.fft.rfftfreq(size, 1 / rate)
    coeffs = rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))
    return unit_rms(np.fft.irfft(coeffs * gain(freqs), size)[:length])


def filtered(signals: np.ndarray, rate: int, gains: np.ndarray | Gain) -> np.ndarray:
    """``signals`` (…, length) filtered by ``gains`` (a response, or one per row of spectra on
    :func:`fft_size`), summed over rows."""
    length = signals.shape[-1]
    size = fft_size(length)
    freqs = np.fft.rfftfreq(size, 1 / rate)
    spectra = np.fft.rfft(signals, size, axis=-1) * (gains(freqs) if callable(gains) else gains)
    return np.fft.irfft(spectra.reshape(-1, len(freqs)).sum(axis=0), size)[:length]


def wander(length: int, rate: int, rng: np.random.Generator, knots_per_second: float) -> np.ndarray:
    """A slow random curve of unit spread: N(0, 1) knots ``rate / knots_per_second`` samples
    apart (the first at a random offset before the clip), joined by straight segments."""
    step = rate / knots_per_second
    knots = rng.standard_normal(int(length / step) + 3)
    return np.interp(np.arange(length), (np.arange(len(knots)) - rng.random()) * step, knots)


def unit_rms(signal: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(signal**2)))
    return signal / rms if rms > 0 else signal


# ---------------------------------------------------------------- noises


def traffic(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Road traffic: a distant rumble plus cars passing by.

    Rumble: brown noise band-limited to 20–300 Hz, its level wandering by exp(0.3·w(t)) (w from
    :func:`wander`, 0.2 knots/s). Cars: 1 + Poisson(duration / 3 s) passes at times t0 from 1 s
    before the clip to 1 s after it. A car at closest distance d and speed v (10–25 m/s) is
    heard with amplitude ∝ 1/distance = 1/√(1 + ((t − t0)/w)²), w = d/v in 0.5–2 s, loudness
    0.5–1.5; it sounds as tyre roar (pink noise 300–3000 Hz, one draw shared by all cars) plus an
    engine buzz (a sawtooth at 50–120 Hz, low-passed at 1 kHz) whose pitch follows the Doppler
    factor c/(c − v_r), v_r the car's speed towards the listener.
    """
    seconds = np.arange(length) / rate
    rumble = shaped_noise(length, rate, rng, lambda f: band(f, 20, 300) * tilt(f, 2))
    rumble *= np.exp(0.3 * wander(length, rate, rng, 0.2))
    tyres = shaped_noise(length, rate, rng, lambda f: band(f, 300, 3000) * tilt(f, 1))
    nearness, engines = np.zeros(length), np.zeros(length)
    for _ in range(1 + rng.poisson(length / rate / 3)):
        passing, scale = rng.uniform(-1, length / rate + 1), rng.uniform(0.5, 2.0)
        speed, loudness, pitch = rng.uniform(10, 25), rng.uniform(0.5, 1.5), rng.uniform(50, 120)
        lag = seconds - passing
        near = loudness / np.sqrt(1 + (lag / scale) ** 2)
        approach = -speed * lag / np.sqrt(lag**2 + scale**2)
        phase = np.cumsum(pitch * SPEED_OF_SOUND / (SPEED_OF_SOUND - approach)) / rate + rng.random()
        nearness += near
        engines += near * (2 * (phase % 1) - 1)
    engine = filtered(engines, rate, lambda f: band(f, 0, 1000))
    return 0.7 * unit_rms(rumble) + tyres * nearness + 0.5 * engine


def crowd(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Babble of twelve talkers, each a stream of syllables.

    A talker is a glottal buzz (a sawtooth at f0 = 90–240 Hz, intonation exp(0.1·w(t)) at 2
    knots/s) cut into syllables: slots of 0.15–0.35 s, voiced for 50–90 % of the slot under a
    sin² envelope, loudness 0.3–1, each with one of five vowels. The buzz of all syllables of
    one vowel is filtered by that vowel's formants (F1–F3 of Peterson & Barney 1952, levels 1,
    0.5, 0.25, bandwidths 90, 110, 170 Hz); filtering is linear, so five filters serve all
    talkers.
    """
    samples = np.arange(length)
    tracks = np.zeros((len(VOWEL_FORMANTS), length))
    for _ in range(TALKERS):
        pitch = rng.uniform(90, 240) * np.exp(0.1 * wander(length, rate, rng, 2.0))
        buzz = 2 * ((np.cumsum(pitch) / rate + rng.random()) % 1) - 1
        slots = rng.uniform(0.15, 0.35, int(length / (0.15 * rate)) + 4) * rate
        ends = np.cumsum(slots) - rng.uniform(0, slots[0])
        voiced = rng.uniform(0.5, 0.9, len(slots)) * slots
        vowel = rng.integers(0, len(VOWEL_FORMANTS), len(slots))
        loudness = rng.uniform(0.3, 1.0, len(slots))
        samples_per_slot = np.diff(np.ceil(np.clip(ends, 0, length)), prepend=0).astype(int)
        slot = np.repeat(np.arange(len(slots)), samples_per_slot)  # the slot of every sample
        progress = np.minimum((samples - ends[slot] + slots[slot]) / voiced[slot], 1.0)
        tracks[vowel[slot], samples] += buzz * np.sin(np.pi * progress) ** 2 * loudness[slot]
    freqs = np.fft.rfftfreq(fft_size(length), 1 / rate)
    gains = np.stack(
        [
            sum(
                level * resonance(freqs, centre, width)
                for level, centre, width in zip(FORMANT_LEVELS, formants, FORMANT_BANDWIDTHS, strict=True)
            )
            for formants in VOWEL_FORMANTS
        ]
    )
    return filtered(tracks, rate, gains)


def rain(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Rain on hard surfaces: a hiss bed plus dense droplets.

    Bed: pink noise band-limited to 400–8000 Hz, its intensity wandering by exp(0.2·w(t)) at 0.5
    knots/s. Droplets: a Poisson stream at 150–600 drops/s (rate drawn per clip), log-normal
    sizes (σ = 0.7); a drop is a click followed by a ringing bubble (a Minnaert resonance): a
    sine at 1.5–4.5 kHz decaying with τ = 2–5 ms. Drops fall into four such resonances; one FFT
    filters the four impulse trains at once. Bed and drops mix at RMS 1 : 2.
    """
    bed = shaped_noise(length, rate, rng, lambda f: band(f, 400, 8000) * tilt(f, 1))
    bed *= np.exp(0.2 * wander(length, rate, rng, 0.5))
    drops = max(1, rng.poisson(rng.uniform(150, 600) * length / rate))
    trains = np.zeros((4, length))
    kinds, places = rng.integers(0, 4, drops), rng.integers(0, length, drops)
    np.add.at(trains, (kinds, places), rng.lognormal(0, 0.7, drops))
    ring = np.arange(int(0.025 * rate) + 1) / rate
    decay, pitch = rng.uniform(0.002, 0.005, (4, 1)), np.minimum(rng.uniform(1500, 4500, (4, 1)), 0.45 * rate)
    kernels = np.exp(-ring / decay) * np.sin(2 * np.pi * pitch * ring)
    kernels[:, 0] = 1.0
    droplets = filtered(trains, rate, np.fft.rfft(kernels, fft_size(length), axis=1))
    return 0.5 * unit_rms(bed) + unit_rms(droplets)


def thunder(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Thunderclaps: sharp cracks that decay into long low rumbles, over a faint distant rumble.

    Claps: 1 + Poisson(duration / 5 s), onsets from 2 s before the clip to its end, loudness
    0.5–1.5. Rumble: brown noise band-limited to 20–150 Hz, its level rolling by exp(0.5·w(t))
    at 3 knots/s; a clap's rumble rises with a 60 ms time constant and decays with τ = 1–3 s.
    Crack: pink noise 100–5000 Hz, at 0.8 of the clap's loudness, with an instant onset and a
    40–120 ms decay. The distant rumble runs throughout at 0.15.
    """
    seconds = np.arange(length) / rate
    rumble = shaped_noise(length, rate, rng, lambda f: band(f, 20, 150) * tilt(f, 2))
    rumble = unit_rms(rumble * np.exp(0.5 * wander(length, rate, rng, 3.0)))
    crack = shaped_noise(length, rate, rng, lambda f: band(f, 100, 5000) * tilt(f, 1))
    rumbling, cracking = np.full(length, 0.15), np.zeros(length)
    for _ in range(1 + rng.poisson(length / rate / 5)):
        onset, loudness = rng.uniform(-2, length / rate), rng.uniform(0.5, 1.5)
        decay, snap = rng.uniform(1, 3), rng.uniform(0.04, 0.12)
        since = seconds - onset
        after = np.where(since >= 0, loudness, 0.0)
        since = np.maximum(since, 0)
        rumbling += after * (1 - np.exp(-since / 0.06)) * np.exp(-since / decay)
        cracking += after * np.exp(-since / snap)
    return rumble * rumbling + 0.8 * crack * cracking


def wind(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Gusty wind: band-passed noises whose level follows slow gusts.

    Gusts: g(t) = exp(0.6·w₁(t) + 0.2·w₂(t)), w₁ at 0.25 knots/s (swells), w₂ at 2 knots/s
    (flutter). Buffeting: brown noise 20–400 Hz × g; howl: pink noise 300–1200 Hz × 0.5 g;
    whistle: a 60 Hz wide band around 500–1500 Hz × 0.3 g², so stronger gusts whistle more.
    """
    gust = np.exp(0.6 * wander(length, rate, rng, 0.25) + 0.2 * wander(length, rate, rng, 2.0))
    buffet = shaped_noise(length, rate, rng, lambda f: band(f, 20, 400) * tilt(f, 2))
    howl = shaped_noise(length, rate, rng, lambda f: band(f, 300, 1200) * tilt(f, 1))
    centre = rng.uniform(500, 1500)
    whistle = shaped_noise(length, rate, rng, lambda f: resonance(f, centre, 60))
    return gust * (buffet + 0.5 * howl + 0.3 * gust * whistle)


NOISES: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "traffic": traffic,
    "crowd": crowd,
    "rain": rain,
    "thunder": thunder,
    "wind": wind,
}


def synthesise(name: str, length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Noise ``name`` (a key of :data:`NOISES`), ``length`` samples at ``rate`` Hz, unit RMS."""
    return unit_rms(NOISES[name](length, rate, rng))
