"""Mild training augmentations of ``scenes-av`` clips and sounds (ours, never the benchmark's shifts).

They give the 20-minute model some variety of camera and microphone without teaching it the
corruptions it is tested on: a clip may get a brightness offset, a colour cast and faint sensor
noise; a sound a gain within ±2 dB (well inside the 7 dB between a small and a large object)
and a faint background noise of a random colour (power ∝ f^−β, β from white 0 to brown 2), as
every real recording has one. A share ``clean`` of the items stays untouched. Every draw comes
from the generator passed in.
"""

from __future__ import annotations

import numpy as np
import torch

#: ranges, in the standardised units the video tower sees (one unit ≈ 0.16 of full scale)
BRIGHTNESS = 0.3
COLOUR_GAIN = 0.15
VIDEO_NOISE = 0.25
#: ranges for waveforms in [−1, 1]
GAIN_DB = 2.0
#: the background noise's RMS stays 10 dB or more below a clip's (0.17): fainter than every
#: benchmark noise; its spectral slope β is drawn up to BROWN
AUDIO_NOISE = 0.05
BROWN = 2.0


def _chosen(count: int, clean: float, rng: np.random.Generator) -> np.ndarray:
    """Which of ``count`` items get augmented (each with probability ``1 − clean``)."""
    return rng.random(count) >= clean


def augment_video(frames: torch.Tensor, clean: float, rng: np.random.Generator) -> torch.Tensor:
    """(B, T, 3, S, S) standardised frames, each chosen clip with one offset, cast and noise level."""
    b = frames.shape[0]
    on = torch.from_numpy(_chosen(b, clean, rng)).float().view(b, 1, 1, 1, 1)
    offset = torch.from_numpy(rng.uniform(-BRIGHTNESS, BRIGHTNESS, (b, 1, 1, 1, 1))).float()
    gain = torch.from_numpy(rng.uniform(1 - COLOUR_GAIN, 1 + COLOUR_GAIN, (b, 1, 3, 1, 1))).float()
    sigma = torch.from_numpy(rng.uniform(0, VIDEO_NOISE, (b, 1, 1, 1, 1))).float()
    noise = torch.from_numpy(rng.standard_normal(frames.shape, dtype=np.float32))
    changed = frames * gain + offset + sigma * noise
    return on * changed + (1 - on) * frames


def coloured_noise(shape: tuple[int, int], slopes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B, N) Gaussian noises of unit RMS whose power falls as f^−β, β = ``slopes[i]`` per row."""
    spectrum = np.fft.rfft(rng.standard_normal(shape), axis=1)
    freqs = np.arange(spectrum.shape[1], dtype=np.float64)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum * freqs[None, :] ** (-slopes[:, None] / 2), n=shape[1], axis=1)
    return noise / np.sqrt((noise**2).mean(axis=1, keepdims=True))


def augment_audio(waves: np.ndarray, clean: float, rng: np.random.Generator) -> np.ndarray:
    """(B, N) float waveforms, each chosen one with a gain and a faint coloured noise."""
    b = waves.shape[0]
    on = _chosen(b, clean, rng)[:, None]
    gain = 10 ** (rng.uniform(-GAIN_DB, GAIN_DB, (b, 1)) / 20)
    noise = rng.uniform(0, AUDIO_NOISE, (b, 1)) * coloured_noise(waves.shape, rng.uniform(0, BROWN, b), rng)
    changed = np.clip(waves * gain + noise, -1.0, 1.0)
    return np.where(on, changed, waves).astype(np.float32)
