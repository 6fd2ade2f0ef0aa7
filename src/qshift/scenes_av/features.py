"""Log-mel spectrograms in torch, for the audio tower's prepare step (no torchaudio).

A waveform is cut into Hann-windowed frames (short-time Fourier transform), its power spectrum
is pooled by triangular filters evenly spaced on the mel scale (the HTK formula
``mel = 2595 log10(1 + f / 700)``; Young et al., *The HTK Book*), and the log of each band is
standardised with fixed statistics of clean training clips. Fixed, not per clip: a clip's
loudness (an object's size) is part of its content, and a noise that raises the floor must
show up as such.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class MelConfig:
    """The spectrogram the audio tower sees; serialised with the weights."""

    sample_rate: int = 16000
    #: samples per clip: shorter waveforms are padded with silence, longer ones cut
    samples: int = 16000
    n_fft: int = 512
    hop: int = 250
    n_mels: int = 64
    #: time frames kept (a multiple of the tower's patch size)
    frames: int = 64
    fmin: float = 60.0
    fmax: float = 8000.0
    #: the mel power below which nothing registers: about 52 dB under a full-scale sine's peak bin
    #: (128² ≈ 16,000), so a recording's faint noise floor stays out of the picture
    floor: float = 0.1
    #: statistics of the log-mel values of clean training clips (:func:`statistics` of the first
    #: 1,000 ``scenes-av`` train soundtracks: ``python scripts/scenes_av_mel_stats.py``)
    mean: float = -1.15
    std: float = 2.2

    def __post_init__(self) -> None:
        if self.fmax > self.sample_rate / 2 or not 0 <= self.fmin < self.fmax:
            raise ValueError(
                f"mel band {self.fmin}–{self.fmax} Hz does not fit the sample rate {self.sample_rate} Hz"
            )
        if 1 + self.samples // self.hop < self.frames:
            raise ValueError(f"{self.samples} samples at hop {self.hop} give fewer than {self.frames} frames")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MelConfig:
        """Build from a JSON mapping; unknown keys are an error naming them."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown mel config field(s): {', '.join(unknown)}")
        return cls(**data)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(cfg: MelConfig) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters, each peaking at 1 on its centre frequency."""
    bins = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - low) / (centre - low)
    falling = (high - bins[None, :]) / (high - centre)
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None)).float()


class LogMel:
    """Waveforms → standardised log-mel spectrograms (B, 1, n_mels, frames)."""

    def __init__(self, cfg: MelConfig):
        self.cfg = cfg
        self.window = torch.hann_window(cfg.n_fft)
        self.filters = mel_filterbank(cfg)

    def fit(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """The waveforms as float32 of exactly ``cfg.samples`` samples (padded with silence or cut)."""
        out = []
        for i, wave in enumerate(waves):
            wave = np.asarray(wave)
            if wave.ndim != 1 or wave.size == 0 or not np.issubdtype(wave.dtype, np.floating):
                raise ValueError(
                    f"audio item {i}: expected a non-empty 1-D float waveform, got {wave.dtype}{wave.shape}"
                )
            wave = wave[: self.cfg.samples].astype(np.float32, copy=False)
            out.append(np.pad(wave, (0, self.cfg.samples - wave.size)))
        return out

    def log_mel(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, samples) float waveforms → (B, n_mels, frames) natural-log mel energies."""
        spec = torch.stft(
            waves, self.cfg.n_fft, self.cfg.hop, window=self.window, center=True, return_complex=True
        )
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.filters, power[..., : self.cfg.frames])
        return torch.log(mel + self.cfg.floor)

    def __call__(self, waves: list[np.ndarray]) -> torch.Tensor:
        batch = torch.from_numpy(np.stack(self.fit(waves)))
        return ((self.log_mel(batch) - self.cfg.mean) / self.cfg.std).unsqueeze(1)


def statistics(log_mels: torch.Tensor) -> tuple[float, float]:
    """(mean, std) of log-mel values, rounded, for :class:`MelConfig`."""
    return round(float(log_mels.mean()), 3), round(max(float(log_mels.std()), math.ulp(1.0)), 3)
