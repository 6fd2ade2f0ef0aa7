"""The ``scenes-av`` source model: a video tower and an audio tower trained together by qshift.

Both towers are small transformers with LayerNorms (:mod:`qshift.scenes_av.towers`); the
prepare steps turn (T, H, W, 3) uint8 clips into standardised frames and 1-D float waveforms
into log-mel spectrograms (:mod:`qshift.scenes_av.features`). The trained weights ship as
``assets/scenes_av_source.safetensors`` (fp16) with a JSON config next to them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from qshift.encoders.base import RetrievalModel
from qshift.encoders.scenes import normalise_images, resize_images
from qshift.scenes.vit import ViTConfig
from qshift.scenes_av.features import LogMel, MelConfig
from qshift.scenes_av.towers import FRAME_VIT, AudioConfig, AudioTower, VideoTower, init_weights

ASSETS = Path(__file__).resolve().parent / "assets"
WEIGHTS_NAME = "scenes_av_source.safetensors"
DEFAULT_WEIGHTS = ASSETS / WEIGHTS_NAME


@dataclass(frozen=True)
class AVConfig:
    """The whole model's architecture; serialised next to the weights as JSON."""

    frames: int = 8
    frame: ViTConfig = FRAME_VIT
    temporal_depth: int = 1
    temporal_heads: int = 4
    audio: AudioConfig = field(default_factory=AudioConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    embed_dim: int = 128

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "frame": self.frame.to_dict(),
            "temporal_depth": self.temporal_depth,
            "temporal_heads": self.temporal_heads,
            "audio": self.audio.to_dict(),
            "mel": self.mel.to_dict(),
            "embed_dim": self.embed_dim,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AVConfig:
        """Build from a JSON mapping; unknown or missing keys are an error naming them."""
        expected = {"frames", "frame", "temporal_depth", "temporal_heads", "audio", "mel", "embed_dim"}
        if set(data) != expected:
            raise ValueError(
                f"scenes-av config fields: missing {sorted(expected - set(data))}, "
                f"unknown {sorted(set(data) - expected)}"
            )
        return cls(
            frames=int(data["frames"]),
            frame=ViTConfig.from_dict(data["frame"]),
            temporal_depth=int(data["temporal_depth"]),
            temporal_heads=int(data["temporal_heads"]),
            audio=AudioConfig.from_dict(data["audio"]),
            mel=MelConfig.from_dict(data["mel"]),
            embed_dim=int(data["embed_dim"]),
        )


def frame_indices(count: int, frames: int) -> np.ndarray:
    """``frames`` indices spread evenly over a clip of ``count`` frames (repeats when it is shorter)."""
    return np.round(np.linspace(0, count - 1, frames)).astype(np.int64)


class SceneAVEncoder(RetrievalModel):
    """The scenes-av video–audio model; see the module docstring."""

    name = "scenes-av"
    modalities = ("audio", "video")

    def __init__(self, config: AVConfig | None = None):
        super().__init__()
        self.config = config or AVConfig()
        cfg = self.config
        self.dim = cfg.embed_dim
        self.video = VideoTower(cfg.frame, cfg.frames, cfg.temporal_depth, cfg.temporal_heads, cfg.embed_dim)
        self.audio = AudioTower(cfg.audio, cfg.mel, cfg.embed_dim)
        self.apply(init_weights)
        self.log_mel = LogMel(cfg.mel)

    def tower(self, modality: str) -> nn.Module:
        self.check_modality(modality)
        return self.video if modality == "video" else self.audio

    def prepare(self, modality: str, items: Sequence[Any]) -> torch.Tensor:
        self.check_modality(modality)
        if isinstance(items, np.ndarray) and items.ndim == (4 if modality == "video" else 1):
            raise ValueError(f"prepare expects a list of {modality} items, got a single one")
        return self.prepare_video(items) if modality == "video" else self.log_mel(list(items))

    def prepare_video(self, clips: Sequence[np.ndarray]) -> torch.Tensor:
        """(T, H, W, 3) uint8 clips → (B, frames, C, S, S): frames picked evenly, resized, standardised."""
        frames, size = self.config.frames, self.config.frame.image_size
        picked = []
        for i, clip in enumerate(clips):
            clip = np.asarray(clip)
            if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8 or clip.shape[0] == 0:
                raise ValueError(
                    f"video item {i}: expected a (T, H, W, 3) uint8 clip, got {clip.dtype}{clip.shape}"
                )
            picked.extend(clip[frame_indices(clip.shape[0], frames)])
        if all(f.shape == (size, size, 3) for f in picked):
            pixels = normalise_images(np.stack(picked))
        else:
            pixels = normalise_images(resize_images(picked, size))
        return pixels.view(len(clips), frames, *pixels.shape[1:])

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The parameters qshift trains and ships: both towers."""
        return {
            **{f"video.{k}": v for k, v in self.video.state_dict().items()},
            **{f"audio.{k}": v for k, v in self.audio.state_dict().items()},
        }


def config_path(weights: Path) -> Path:
    """The JSON config stored next to a weights file."""
    return weights.with_suffix(".json")


def save_scenes_av_model(encoder: SceneAVEncoder, out: Path, train: dict[str, Any]) -> Path:
    """Write the weights (fp16) and the JSON config (architecture plus the ``train`` record)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_NAME
    state = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in encoder.trained_state().items()}
    broken = sorted(k for k, v in state.items() if not torch.isfinite(v).all())
    if broken:
        raise ValueError(f"trained weights do not fit float16 (non-finite after the cast): {broken}")
    save_file(state, str(weights))
    meta = {"model": encoder.config.to_dict(), "train": train}
    config_path(weights).write_text(json.dumps(meta, indent=2) + "\n")
    return weights


def load_scenes_av_encoder(weights: str | Path | None = None) -> SceneAVEncoder:
    """The scenes-av model from ``weights`` (default: the shipped asset) and its JSON config."""
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    cfg_file = config_path(path)
    for needed in (path, cfg_file):
        if not needed.is_file():
            raise FileNotFoundError(
                f"scenes-av model file not found: {needed} "
                f"(run `qshift pretrain scenes-av --out {path.parent}`)"
            )
    try:
        config = AVConfig.from_dict(json.loads(cfg_file.read_text())["model"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"bad scenes-av model config {cfg_file}: {err}") from err
    encoder = SceneAVEncoder(config)
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    expected = encoder.trained_state()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise ValueError(
            f"scenes-av weights {path} do not match the config: missing {missing[:3]}, unexpected {extra[:3]}"
        )
    for name, tower in (("video", encoder.video), ("audio", encoder.audio)):
        tower.load_state_dict({k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(name + ".")})
    encoder.stats_anchor = path
    return encoder.eval()


def load_spec(spec: str, device: torch.device | str = "cpu", precision: str = "auto") -> SceneAVEncoder:
    """``scenes-av`` (the shipped weights) or ``scenes-av:<weights.safetensors>`` on ``device`` (float32)."""
    return load_scenes_av_encoder(spec.partition(":")[2] or None).to(device)
