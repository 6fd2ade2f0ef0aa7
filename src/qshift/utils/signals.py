"""Resampling shared by the loaders and the backbones' prepare steps: waveforms and frame sequences.

The loaders read audio at qshift's rate and a fixed number of frames per clip; a backbone that
wants another rate or frame count converts in its prepare step with the same two rules, so a
clip looks the same whichever side converts it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import resample_poly


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """A 1-D waveform at ``rate`` Hz converted to ``target`` Hz, as float32.

    Polyphase filtering (``scipy.signal.resample_poly``) with the ratio reduced to lowest terms;
    the same rate returns the samples unchanged.
    """
    if rate < 1 or target < 1:
        raise ValueError(f"sample rates must be positive, got {rate} and {target}")
    if rate == target:
        return np.ascontiguousarray(wave, dtype=np.float32)
    step = math.gcd(rate, target)
    return np.ascontiguousarray(resample_poly(wave, target // step, rate // step), dtype=np.float32)


def segment_middles(count: int, frames: int) -> list[int]:
    """Index of the middle of each of ``frames`` equal segments of ``count`` frames (TSN-style).

    Fewer source frames than ``frames`` repeat frames; more are thinned evenly.
    """
    if count < 1 or frames < 1:
        raise ValueError(f"frame counts must be positive, got {count} and {frames}")
    return [min(count - 1, int((k + 0.5) * count / frames)) for k in range(frames)]
