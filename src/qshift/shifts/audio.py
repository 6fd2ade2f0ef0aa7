"""The six audio query shifts of READ at severities 1–5, for mono waveforms of any length.

READ (Yang et al., "Test-time adaption against multi-modal reliability bias", ICLR 2024,
``make_corruptions/make_c_audio.py``) corrupts a waveform ``x`` in [−1, 1] by

- ``gaussian_noise``: ``x + N(0, σ²)`` per sample, σ = 0.08, 0.12, 0.18, 0.26, 0.38;
- ``traffic``, ``crowd``, ``rain``, ``thunder``, ``wind``: a recording of that sound, looped or
  cut to the clip's length, raised by g = 1, 2, 4, 6, 8 dB and overlaid (a sample-wise sum).

The gain is pydub's ``apply_gain``: the recording's amplitude times 10^(g/20) (×1.12 … ×2.51),
relative to the recording's own level, not to the clip's: it is not a signal-to-noise ratio, and
the same severity leaves a quiet clip with a lower SNR than a loud one. READ stores the results
as 16-bit PCM, which saturates at full scale (soundfile's write and pydub's overlay both clip);
the shifts here clip to [−1, 1] likewise.

qshift synthesises the five sounds from the seed (recipes in each shift's docstring, constants
in ``qshift.shifts._audio_noises``) at the level of an ambience recorded at RMS 0.0316 (−30 dBFS)
before the gain; READ does not state its recordings' levels, so that reference level is qshift's
choice (severity 5 mixes noise at RMS 0.079). It is set so that the ambiences, like Gaussian
noise, leave a clip at severity 1 mostly recognisable: at −20 dBFS every one of them at severity
1 cost the ``scenes-av`` source model more than Gaussian noise at severity 3 (docs/scenes-av.md).
``noise_dir=DIR`` mixes the recording ``DIR/<name>.wav`` instead, at its own level as READ does,
from a seeded random start (READ starts at 0; a random start lets seeds differ), looped as needed.

Per seed, one noise draw serves all five severities (only its gain or σ changes), so the
corruption of a clip grows with severity. Options: ``sample_rate`` (Hz, default 16 000) for
every shift, ``noise_dir`` for the five environmental ones.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qshift.shifts._audio_noises import synthesise
from qshift.shifts._checks import check_options, check_seed, check_severity

#: the audio shifts in benchmark.md's order
AUDIO_SHIFTS = ("gaussian_noise", "traffic", "crowd", "rain", "thunder", "wind")
GAUSSIAN_STDS = (0.08, 0.12, 0.18, 0.26, 0.38)
GAINS_DB = (1, 2, 4, 6, 8)
NOISE_RMS = 10 ** (-30 / 20)
SAMPLE_RATE = 16000
#: the synthetic noises reach 2 kHz and more; slower rates would cut them away
MIN_SAMPLE_RATE = 4000


def gaussian_noise(wave: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Add white Gaussian noise of std 0.08, 0.12, 0.18, 0.26, 0.38 (READ), clipped to [−1, 1]."""
    severity, seed, _ = _checked(
        "gaussian_noise", wave, severity, seed, options, {"sample_rate": SAMPLE_RATE}
    )
    noise = np.random.default_rng(seed).standard_normal(len(wave), dtype=np.float32)
    return _overlay(wave, GAUSSIAN_STDS[severity - 1] * noise)


def traffic(wave: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Road traffic at +1…+8 dB: low-passed brown-noise rumble plus cars passing by, each swelling
    as 1/distance, with tyre roar and a sawtooth engine whose pitch follows the Doppler factor."""
    return _environmental("traffic", wave, severity, seed, options)


def crowd(wave: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Crowd babble at +1…+8 dB: twelve talkers, each a glottal sawtooth cut into syllables
    (0.15–0.35 s) shaped by the formants of one of five vowels (Peterson & Barney 1952)."""
    return _environmental("crowd", wave, severity, seed, options)


def rain(wave: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Rain at +1…+8 dB: a band-passed pink-noise hiss plus 150–600 droplets/s, each a click with
    a decaying 1.5–4.5 kHz bubble ring."""
    return _environmental("rain", wave, severity, seed, options)


def thunder(wave: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Thunder at +1…+8 dB: claps with an instant broadband crack (40–120 ms) decaying into a
    rolling 20–150 Hz brown-noise rumble (1–3 s), over a faint distant rumble."""
    return _environmental("thunder", wave, severity, seed, options)


def wind(wave: np.ndarray, severity: int, seed: int = 0, **options: Any) -> np.ndarray:
    """Wind at +1…+8 dB: low buffeting, a 300–1200 Hz howl and a narrow whistle, all following
    slow log-normal gusts (the whistle with their square)."""
    return _environmental("wind", wave, severity, seed, options)


def _environmental(
    name: str, wave: np.ndarray, severity: int, seed: int, options: dict[str, Any]
) -> np.ndarray:
    """Overlay noise ``name`` (synthetic, or ``noise_dir``'s recording) raised by the severity's gain."""
    defaults = {"sample_rate": SAMPLE_RATE, "noise_dir": None}
    severity, seed, chosen = _checked(name, wave, severity, seed, options, defaults)
    rng = np.random.default_rng(seed)
    if chosen["noise_dir"] is None:
        noise = NOISE_RMS * synthesise(name, len(wave), chosen["sample_rate"], rng)
    else:
        recording = _recording(name, Path(chosen["noise_dir"]), chosen["sample_rate"])
        start = rng.integers(len(recording))
        noise = recording[(start + np.arange(len(wave))) % len(recording)]
    return _overlay(wave, 10 ** (GAINS_DB[severity - 1] / 20) * noise)


def _overlay(wave: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``wave + noise``, saturated at full scale like READ's 16-bit output, as float32."""
    return np.clip(wave + noise, -1.0, 1.0).astype(np.float32)


def _recording(name: str, noise_dir: Path, sample_rate: int) -> np.ndarray:
    """``noise_dir/<name>.wav`` as a mono waveform at ``sample_rate`` (cached while unchanged)."""
    path = noise_dir / f"{name}.wav"
    if not path.is_file():
        raise ValueError(f"noise_dir has no recording for {name}: {path} is not a file")
    stat = path.stat()
    return _decoded(str(path), sample_rate, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _decoded(path: str, sample_rate: int, mtime_ns: int, size: int) -> np.ndarray:
    """The decoded recording, read-only; ``mtime_ns`` and ``size`` key the cache so that an edited
    file is read again."""
    from qshift.utils.media import read_audio  # decoders load only when recordings are used

    wave = read_audio(path, sample_rate)
    wave.setflags(write=False)
    return wave


def _checked(
    name: str, wave: np.ndarray, severity: int, seed: int, options: dict[str, Any], defaults: dict[str, Any]
) -> tuple[int, int, dict[str, Any]]:
    """(severity, seed, options with defaults) after checking them and the waveform."""
    severity, seed = check_severity(name, severity), check_seed(name, seed)
    chosen = check_options(name, options, defaults)
    rate = chosen["sample_rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample_rate of {name} must be an integer >= {MIN_SAMPLE_RATE} (Hz), got {rate!r}")
    chosen["sample_rate"] = int(rate)
    if chosen.get("noise_dir") is not None and not isinstance(chosen["noise_dir"], (str, os.PathLike)):
        raise ValueError(f"noise_dir of {name} must be a folder path, got {chosen['noise_dir']!r}")
    if not isinstance(wave, np.ndarray) or wave.ndim != 1:
        shape = getattr(wave, "shape", type(wave).__name__)
        raise ValueError(f"waveform for {name} must be a 1-D numpy array (mono samples), got {shape}")
    if wave.dtype != np.float32:
        raise ValueError(f"waveform for {name} must be float32, got dtype {wave.dtype}")
    if wave.size == 0:
        raise ValueError(f"waveform for {name} is empty")
    if not np.isfinite(wave).all():
        raise ValueError(f"waveform for {name} has non-finite samples (NaN or infinity)")
    return severity, seed, chosen
