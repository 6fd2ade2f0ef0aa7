"""Audio on Hugging Face backbones: CLAP (``ClapModel``, LAION-CLAP; Wu et al., ICASSP 2023).

Modalities ``audio`` and ``text`` (tasks ``a2t`` / ``t2a``). The towers are ``get_audio_features``
(the HTSAT audio encoder and its projection) and ``get_text_features`` (the RoBERTa text encoder
and its projection).

**The audio prepare step** (:class:`LogMel`) turns a batch of 1-D float waveforms into the
``input_features`` and ``is_longer`` the audio tower takes, with the settings of the checkpoint's
feature extractor (``preprocessor_config.json``; ``ClapFeatureExtractor``'s defaults without
one): waveforms come at qshift's audio rate (16 kHz, :data:`AUDIO_RATE`, the rate of the loaders
and the audio shifts; set ``LogMel.input_rate`` for another) and are resampled to the
extractor's ``sampling_rate`` (48 kHz for the LAION checkpoints) with a polyphase filter
(:func:`qshift.utils.signals.resample`). A clip shorter than ``max_length_s`` is padded by the
extractor's ``padding`` rule (``repeatpad``: repeated whole, then zero-padded); the log-mel
spectrogram is ``transformers.audio_utils.spectrogram`` with a Hann window of ``fft_window_size``,
``hop_length``, power 2 and dB, as the feature extractor computes it. Fused checkpoints
(``audio_config.enable_fusion``) take four channels (HTK mel filters); the others one (Slaney
filters), as LAION-CLAP computes them. The checkpoint's ``enable_fusion`` decides, whatever the
extractor's ``truncation`` says.

Where the feature extractor draws at random, qshift is deterministic, so that an embedding
depends on its clip alone:

- a clip longer than ``max_length_s`` keeps its **centre** window (unfused; the extractor crops
  at random), or its fused features take the window at the **middle** of each third of the
  clip next to the whole spectrogram shrunk to the window (fused; the extractor picks a random
  window in each third);
- ``is_longer`` is true exactly for clips longer than ``max_length_s``; the extractor also marks
  one random clip of a batch without long clips as longer, which makes an embedding depend on
  its batch company.

Parameter presets (:mod:`qshift.encoders.presets`): every LayerNorm of the query tower (the
audio tower's patch-embedding, Swin-block, patch-merging and final norms; the text encoder's
embedding and block norms). The audio encoder's BatchNorm over mel bins is not adapted and
keeps its running statistics (towers run in eval mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import ClapFeatureExtractor, ClapModel, PretrainedConfig
from transformers.audio_utils import spectrogram, window_function

from qshift.encoders.hf_load import load_model, load_tokenizer, processor_settings, text_limit
from qshift.encoders.hf_preprocess import TextOptions, tokenize
from qshift.encoders.hf_towers import GetterTower, HFRetrievalModel, Tower
from qshift.utils.signals import resample

#: qshift's audio rate: the loaders read and the audio shifts assume 16 kHz unless told otherwise
AUDIO_RATE = 16000
#: LAION-CLAP tokenises with ``max_length=77``
CLAP_MAX_TOKENS = 77
#: CLAP's towers: (audio parts, text parts)
CLAP_PARTS = (("audio_model", "audio_projection"), ("text_model", "text_projection"))
PADDINGS = ("repeatpad", "repeat", "pad")


@dataclass
class LogMel:
    """Waveforms at ``input_rate`` → ``{"input_features": (B, C, frames, mels), "is_longer": (B, 1)}``.

    ``filters`` is the (frequency bins, mels) filter bank; ``fusion`` stacks the four channels
    of a fused checkpoint (module doc).
    """

    sample_rate: int
    fft_size: int
    hop_length: int
    max_samples: int
    filters: np.ndarray = field(repr=False)
    padding: str = "repeatpad"
    fusion: bool = False
    input_rate: int = AUDIO_RATE

    @property
    def chunk_frames(self) -> int:
        """Spectrogram frames of a ``max_samples`` window (centred STFT: one more than hops)."""
        return self.max_samples // self.hop_length + 1

    def mel(self, wave: np.ndarray) -> np.ndarray:
        """(frames, mels) log-mel spectrogram in dB of one waveform at ``sample_rate``."""
        power = spectrogram(
            wave.astype(np.float64),
            window_function(self.fft_size, "hann"),
            frame_length=self.fft_size,
            hop_length=self.hop_length,
            power=2.0,
            mel_filters=self.filters,
            log_mel="dB",
        )
        return power.T.astype(np.float32)

    def padded(self, wave: np.ndarray) -> np.ndarray:
        """A clip no longer than ``max_samples`` brought to that length by the ``padding`` rule."""
        if len(wave) < self.max_samples and self.padding in ("repeatpad", "repeat"):
            repeats = self.max_samples // len(wave) + (self.padding == "repeat")
            wave = np.tile(wave, repeats)[: self.max_samples]
        return np.pad(wave, (0, self.max_samples - len(wave)))

    def one(self, wave: np.ndarray) -> tuple[np.ndarray, bool]:
        """(channels, frames, mels) features of one waveform at ``sample_rate``, and is_longer."""
        if len(wave) <= self.max_samples:
            mel = self.mel(self.padded(wave))
            return np.stack([mel] * (4 if self.fusion else 1)), False
        if not self.fusion:
            start = (len(wave) - self.max_samples) // 2
            return self.mel(wave[start : start + self.max_samples])[None], True
        mel = self.mel(wave)
        frames = self.chunk_frames
        if len(mel) == frames:  # longer by less than a hop: the whole clip fits one window
            return np.stack([mel] * 4), False
        starts = [
            int(np.median(part)) if len(part) else 0
            for part in np.array_split(np.arange(len(mel) - frames + 1), 3)
        ]
        chunks = [mel[s : s + frames] for s in starts]
        shrunk = F.interpolate(
            torch.from_numpy(mel)[None, None],
            size=(frames, mel.shape[1]),
            mode="bilinear",
            align_corners=False,
        )[0, 0].numpy()
        return np.stack([shrunk, *chunks]), True

    def __call__(self, waves: Sequence[Any]) -> dict[str, torch.Tensor]:
        features, longer = [], []
        for index, wave in enumerate(waves):
            array = np.asarray(wave)
            if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.floating):
                raise ValueError(
                    f"audio item {index} must be a non-empty 1-D float waveform, "
                    f"got {array.dtype}{array.shape}"
                )
            one, is_longer = self.one(resample(array, self.input_rate, self.sample_rate))
            features.append(one)
            longer.append([is_longer])
        channels = 4 if self.fusion else 1
        if not features:
            return {
                "input_features": torch.empty(0, channels, self.chunk_frames, self.filters.shape[1]),
                "is_longer": torch.empty(0, 1, dtype=torch.bool),
            }
        return {"input_features": torch.from_numpy(np.stack(features)), "is_longer": torch.tensor(longer)}


def load_log_mel(source: str, config: PretrainedConfig, offline: bool) -> LogMel:
    """The audio prepare step from the checkpoint's feature-extractor settings (module doc)."""
    settings = processor_settings(source, offline)
    extractor = ClapFeatureExtractor() if settings is None else ClapFeatureExtractor.from_dict(settings)
    label = f"hf:{source} preprocessor_config.json"
    mels = config.audio_config.num_mel_bins
    if extractor.feature_size != mels:
        raise ValueError(
            f"{label}: feature_size {extractor.feature_size} differs from audio_config.num_mel_bins {mels}"
        )
    if extractor.padding not in PADDINGS:
        raise ValueError(f"{label}: padding must be one of {', '.join(PADDINGS)}, got {extractor.padding!r}")
    fusion = bool(config.audio_config.enable_fusion)
    log_mel = LogMel(
        sample_rate=int(extractor.sampling_rate),
        fft_size=int(extractor.fft_window_size),
        hop_length=int(extractor.hop_length),
        max_samples=int(extractor.max_length_s * extractor.sampling_rate),
        filters=extractor.mel_filters if fusion else extractor.mel_filters_slaney,
        padding=extractor.padding,
        fusion=fusion,
    )
    audio = config.audio_config
    room = audio.spec_size * (audio.spec_size // mels)
    if log_mel.chunk_frames > room:
        raise ValueError(
            f"{label}: max_length_s {extractor.max_length_s} gives {log_mel.chunk_frames} frames, "
            f"more than the {room} the audio encoder takes (audio_config.spec_size {audio.spec_size})"
        )
    return log_mel


def _clap_width(model: ClapModel, source: str) -> int:
    """The shared embedding width; ValueError when the two projections disagree."""
    audio, text = model.audio_projection.linear2.out_features, model.text_projection.linear2.out_features
    if audio != text:
        raise ValueError(
            f"hf:{source}: towers disagree in width: audio {audio} (audio_config.projection_dim) "
            f"vs text {text} (text_config.projection_dim)"
        )
    return audio


def load_clap(
    source: str, config: PretrainedConfig, offline: bool, amp_dtype: torch.dtype | None
) -> HFRetrievalModel:
    """CLAP as an audio–text model (tasks ``a2t`` / ``t2a``)."""
    audio_parts, text_parts = CLAP_PARTS
    log_mel = load_log_mel(source, config, offline)
    model = load_model(ClapModel, source, offline, audio_parts + text_parts)
    tokenizer = load_tokenizer(source, config, offline)
    text = config.text_config
    # RoBERTa numbers positions after the padding id: pad_token_id + 1 of them are never used
    positions = text.max_position_embeddings - (text.pad_token_id or 0) - 1
    options = TextOptions(
        text_limit(positions, tokenizer, CLAP_MAX_TOKENS), "longest", ("input_ids", "attention_mask")
    )
    towers: dict[str, Tower] = {
        "audio": GetterTower(model, audio_parts, "get_audio_features", amp_dtype),
        "text": GetterTower(model, text_parts, "get_text_features", amp_dtype),
    }
    prepares = {"audio": log_mel, "text": partial(tokenize, tokenizer, options)}
    return HFRetrievalModel(model, "clap", towers, prepares, _clap_width(model, source), f"hf:{source}")
