"""A small pre-norm Vision Transformer, the image tower of the embedded ``scenes`` model.

Every normalisation is a real ``nn.LayerNorm`` (after the patch embedding, before each
attention and MLP, and before pooling) so that norm-based test-time adaptation finds the same
kind of trainable parameters it finds in CLIP's vision tower.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: box window (pixels of the model input) of the slow variations "local" removes
LOCAL_WINDOW = 31
#: per-channel statistics of the 224-px scenes renders that standardise the ViT's RGB input
IMAGE_MEAN = (0.53, 0.52, 0.52)
IMAGE_STD = (0.16, 0.15, 0.16)
#: the direction a grey change (equal in R, G and B) takes in the standardised input
GREY_AXIS = tuple(1.0 / s for s in IMAGE_STD)
#: smallest chroma RMS "opponent" divides by (standardised units; clean scenes renders: 1 %
#: quantile 0.07, median 0.4), so an all-grey image's quantisation noise is not blown up
CHROMA_FLOOR = 0.01


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of :class:`ViT`; serialised next to the weights as JSON."""

    image_size: int = 64
    patch_size: int = 8
    width: int = 192
    depth: int = 4
    heads: int = 3
    mlp_ratio: float = 4.0
    out_dim: int = 256
    pool: str = "mean"
    stem: str = "conv"
    input_norm: str = "contrast+opponent"

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if self.pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {self.pool!r}")
        if self.stem not in ("conv", "patch"):
            raise ValueError(f"stem must be 'conv' or 'patch', got {self.stem!r}")
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {self.input_norm!r}")
        if self.stem == "conv":
            _stem_strides(self.patch_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViTConfig:
        """Build from a JSON mapping; unknown keys are an error naming them."""
        # weights saved before input_norm existed were trained on "fixed" inputs
        data = {"input_norm": "fixed", **data}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ViT config field(s): {', '.join(unknown)}")
        return cls(**data)

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def in_channels(self) -> int:
        """Channels the stem sees: RGB, or six when two normalisations are stacked."""
        return 6 if self.input_norm == "contrast+opponent" else 3


def contrast_normalise(images: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """(B, C, H, W) -> each image's deviations from its per-channel mean scaled to unit RMS.

    The per-channel means (the image's colour cast and brightness) are kept; only the overall
    contrast is fixed, so an image and its low-contrast copy give the same input up to
    quantisation. Retinas and cameras adapt to contrast; a 20-minute model that must learn the
    invariance from augmentation learns slower and ends less robust (docs/scenes.md).
    """
    return _with_unit_detail(images, images - images.mean(dim=(2, 3), keepdim=True), eps)


def local_contrast_normalise(
    images: torch.Tensor, window: int = LOCAL_WINDOW, eps: float = 1e-4
) -> torch.Tensor:
    """Like :func:`contrast_normalise`, on the image minus its ``window``-px box-blurred self.

    Removing variations slower than the window (a haze's cloudy veil, a lighting gradient)
    before fixing the contrast keeps objects smaller than the window; a proxy for whether the
    model should be invariant to them (docs/scenes.md).
    """
    half = window // 2
    slow = F.avg_pool2d(F.pad(images, (half, half, half, half), mode="reflect"), window, stride=1)
    return _with_unit_detail(images, images - slow, eps)


def opponent_normalise(
    images: torch.Tensor, grey: tuple[float, float, float] = GREY_AXIS, floor: float = CHROMA_FLOOR
) -> torch.Tensor:
    """Like :func:`contrast_normalise`, with luminance and chroma each scaled to unit RMS.

    An image's deviations from its per-channel means split into a luminance part (along the
    ``grey`` axis) and a chroma part (orthogonal to it); each is divided by its own RMS. Veils
    that add light equally to all channels (haze, fog, frost, snow flakes, glare) swamp the
    luminance but only shrink the chroma, which this gain control restores to its clean scale,
    much as the colour-opponent pathways of a retina adapt separately. Chroma is divided by at
    least ``floor`` so that a grey image's quantisation noise is not amplified.
    """
    axis = torch.tensor(grey, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    axis = axis / axis.norm()
    means = images.mean(dim=(2, 3), keepdim=True)
    detail = images - means
    luminance = (detail * axis).sum(dim=1, keepdim=True)
    chroma = detail - luminance * axis
    luminance = luminance / (_rms(luminance) + 1e-4)
    chroma = chroma / _rms(chroma).clamp_min(floor)
    return means + luminance * axis + chroma


def _rms(x: torch.Tensor) -> torch.Tensor:
    """Root mean square per image, shaped to broadcast over (B, C, H, W)."""
    return x.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()


def _with_unit_detail(images: torch.Tensor, detail: torch.Tensor, eps: float) -> torch.Tensor:
    """The images' per-channel means plus ``detail`` scaled to unit RMS per image."""
    return images.mean(dim=(2, 3), keepdim=True) + detail / (_rms(detail) + eps)


#: what each ``ViTConfig.input_norm`` does to the standardised images before the stem:
#: "fixed": nothing (the dataset statistics only); "contrast": each image's deviations from its
#: own per-channel mean divided by their RMS; "local": the same after removing slow variations;
#: "opponent": luminance and chroma deviations each scaled to unit RMS; "contrast+opponent":
#: both, stacked as six input channels
INPUT_NORMALISERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "fixed": lambda images: images,
    "contrast": contrast_normalise,
    "local": local_contrast_normalise,
    "opponent": opponent_normalise,
    "contrast+opponent": lambda images: torch.cat(
        [contrast_normalise(images), opponent_normalise(images)], dim=1
    ),
}
INPUT_NORMS = tuple(INPUT_NORMALISERS)


def _stem_strides(patch_size: int) -> list[int]:
    """Factor ``patch_size`` into strides of 2 (first) and 3; ValueError if impossible."""
    strides, rest = [], patch_size
    for factor in (2, 3):
        while rest % factor == 0:
            strides.append(factor)
            rest //= factor
    if rest != 1 or not strides:
        raise ValueError(f"a conv stem needs a patch_size made of factors 2 and 3, got {patch_size}")
    return strides


def conv_stem(width: int, patch_size: int, in_channels: int = 3) -> nn.Sequential:
    """Strided 3x3 convolutions down to one token per ``patch_size`` pixels, then a 1x1 to ``width``.

    Early convolutions make a small ViT learn from few samples far faster than a single
    patchifying convolution (Xiao et al. 2021, "Early Convolutions Help Transformers See Better").
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for i, stride in enumerate(_stem_strides(patch_size)):
        out = min(width, 24 * 2**i)
        layers += [
            nn.Conv2d(channels, out, kernel_size=3, stride=stride, padding=1 if stride == 2 else 0),
            nn.GELU(),
        ]
        channels = out
    return nn.Sequential(*layers, nn.Conv2d(channels, width, kernel_size=1))


class Attention(nn.Module):
    """Multi-head self-attention on (B, N, D) tokens."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    """Patch embedding (conv stem or patchify), learned positions, pre-norm blocks, final LayerNorm,
    linear projection."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = config
        w = config.width
        if config.stem == "conv":
            self.patch_embed: nn.Module = conv_stem(w, config.patch_size, config.in_channels)
        else:
            self.patch_embed = nn.Conv2d(
                config.in_channels, w, kernel_size=config.patch_size, stride=config.patch_size
            )
        extra = 1 if config.pool == "cls" else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w)) if extra else None
        self.pos_embed = nn.Parameter(torch.randn(1, config.num_patches + extra, w) * 0.02)
        self.ln_pre = nn.LayerNorm(w)
        self.blocks = nn.ModuleList(Block(w, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Linear(w, config.out_dim, bias=False)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised images -> (B, N, width) output tokens (CLS first when used)."""
        images = INPUT_NORMALISERS[self.config.input_norm](images)
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.ln_pre(x + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        return x

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Output tokens -> (B, out_dim) embeddings: CLS or mean token, final LayerNorm, projection."""
        pooled = tokens[:, 0] if self.cls_token is not None else tokens.mean(dim=1)
        return self.proj(self.ln_post(pooled))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised images -> (B, out_dim) unnormalised embeddings."""
        return self.pool(self.tokens(images))
