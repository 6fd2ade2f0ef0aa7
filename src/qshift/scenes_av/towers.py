"""The two towers of the ``scenes-av`` model, both built from the scenes ViT's parts.

- :class:`VideoTower`: the scenes :class:`~qshift.scenes.vit.ViT` on every frame (its conv
  stem, contrast and opponent input normalisation, pre-norm blocks, final LayerNorm), then a
  temporal transformer over the frame embeddings with learned frame positions, a LayerNorm,
  the mean over frames and a projection into the shared space.
- :class:`AudioTower`: a spectrogram transformer over time slices: every ``slice`` consecutive
  frames of the log-mel spectrogram (all mel bands) make one token through a linear embedding,
  then learned positions, pre-norm blocks, mean pooling, a LayerNorm and a projection. A slice
  token sees the whole spectrum at once, so a pitch (a colour) is one linear read-out away.

Every normalisation is an ``nn.LayerNorm``, as in the image tower, so that norm-based
test-time adaptation finds the same kind of parameters in both query towers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from qshift.scenes.vit import Block, ViT, ViTConfig
from qshift.scenes_av.features import MelConfig

#: the per-frame ViT: the scenes architecture at 64 px with 16-px tokens (4×4 per frame),
#: narrower and shallower (eight frames a clip; docs/scenes-av.md)
FRAME_VIT = ViTConfig(image_size=32, patch_size=8, width=96, depth=2, heads=3, out_dim=128)


def init_weights(module: nn.Module) -> None:
    """ViT-style initialisation: Kaiming-normal convolutions and N(0, 0.02²) linears, zero biases.

    Under PyTorch's default initialisation the conv stem's output is almost a constant (its
    biases outweigh its small weights): random clip embeddings then agree at cosine 0.997, and
    a contrastive loss between two random towers collapses them instead of aligning them
    (docs/scenes-av.md). Apply with ``model.apply(init_weights)``.
    """
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    elif isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
    else:
        return
    if module.bias is not None:
        nn.init.zeros_(module.bias)


@dataclass(frozen=True)
class AudioConfig:
    """Architecture of :class:`AudioTower`."""

    #: spectrogram frames per token (16 ms each at the default hop)
    slice: int = 4
    width: int = 128
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 4.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown audio tower config field(s): {', '.join(unknown)}")
        return cls(**data)


class VideoTower(nn.Module):
    """(B, T, C, S, S) standardised frames → (B, out_dim) clip embeddings."""

    def __init__(self, frame: ViTConfig, frames: int, temporal_depth: int, temporal_heads: int, out_dim: int):
        super().__init__()
        self.frames = frames
        self.frame = ViT(frame)
        width = frame.out_dim
        self.time_embed = nn.Parameter(torch.randn(1, frames, width) * 0.02)
        if width % temporal_heads:
            raise ValueError(f"frame out_dim {width} is not divisible by temporal_heads {temporal_heads}")
        self.blocks = nn.ModuleList(
            Block(width, temporal_heads, frame.mlp_ratio) for _ in range(temporal_depth)
        )
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Linear(width, out_dim, bias=False)

    def frame_embeddings(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, S, S) → (B, T, width): each frame through the ViT."""
        b, t = clips.shape[:2]
        if t != self.frames:
            raise ValueError(f"the video tower takes clips of {self.frames} frames, got {t}")
        return self.frame(clips.flatten(0, 1)).view(b, t, -1)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, S, S) → (B, width): the pooled clip features before the projection."""
        x = self.frame_embeddings(clips) + self.time_embed
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x).mean(dim=1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.proj(self.features(clips))


class AudioTower(nn.Module):
    """(B, 1, n_mels, frames) standardised log-mel spectrograms → (B, out_dim) embeddings."""

    def __init__(self, cfg: AudioConfig, mel: MelConfig, out_dim: int):
        super().__init__()
        if mel.frames % cfg.slice:
            raise ValueError(f"mel frames {mel.frames} are not a multiple of the audio slice {cfg.slice}")
        self.slice = cfg.slice
        self.embed = nn.Linear(mel.n_mels * cfg.slice, cfg.width)
        self.pos_embed = nn.Parameter(torch.randn(1, mel.frames // cfg.slice, cfg.width) * 0.02)
        self.ln_pre = nn.LayerNorm(cfg.width)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.ln_post = nn.LayerNorm(cfg.width)
        self.proj = nn.Linear(cfg.width, out_dim, bias=False)

    def features(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """(B, 1, n_mels, frames) → (B, width): the pooled features before the projection."""
        b, _, mels, frames = spectrograms.shape
        slices = spectrograms[:, 0].transpose(1, 2).reshape(b, frames // self.slice, self.slice * mels)
        x = self.ln_pre(self.embed(slices) + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x.mean(dim=1))

    def forward(self, spectrograms: torch.Tensor) -> torch.Tensor:
        return self.proj(self.features(spectrograms))
