"""Mild training augmentations of ``scenes-av`` clips and sounds (ours, never the benchmark's shifts).

They give the 20-minute model some variety of camera and microphone without teaching it the
corruptions it is tested on: a clip may get a brightness offset, a colour cast and faint sensor
noise; a sound a gain within ±2 dB (well inside the 7 dB between a small and a large object)
and a faint hiss. A share ``clean`` of the items stays untouched. Every draw comes from the
generator passed in.
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
#: the hiss stays 10 dB or more below a clip (RMS 0.17): fainter than every benchmark noise
AUDIO_NOISE = 0.05


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


def augment_audio(waves: np.ndarray, clean: float, rng: np.random.Generator) -> np.ndarray:
    """(B, N) float waveforms, each chosen one with a gain and a faint white hiss."""
    b = waves.shape[0]
    on = _chosen(b, clean, rng)[:, None]
    gain = 10 ** (rng.uniform(-GAIN_DB, GAIN_DB, (b, 1)) / 20)
    hiss = rng.uniform(0, AUDIO_NOISE, (b, 1)) * rng.standard_normal(waves.shape)
    changed = np.clip(waves * gain + hiss, -1.0, 1.0)
    return np.where(on, changed, waves).astype(np.float32)
