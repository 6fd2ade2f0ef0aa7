"""open_clip models as DualEncoders (optional extra: ``pip install qshift[open_clip]``).

``open_clip:<arch>:<checkpoint-path>`` builds architecture ``arch`` (a name from
``open_clip.list_models()``) with the weights in ``checkpoint-path``. Towers call the model's
``encode_image`` / ``encode_text``; the image tower registers ``visual``, the text tower every
other submodule and parameter (token embedding, transformer, ``ln_final``, projection) except
the logit scale/bias, so each tower's norm walk sees its own LayerNorms only. The full model is
kept outside the module tree and moved with the encoder, so its buffers (the causal
attention mask) follow ``.to(device)``.

Preprocessing reads ``model.visual.preprocess_cfg`` (size, mean, std, interpolation,
resize_mode ``shortest`` or ``squash``) and runs it with Pillow/numpy, not torchvision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from qshift.encoders import resolve_device, resolve_precision
from qshift.encoders.base import ParamSpec
from qshift.encoders.hf_preprocess import OPENAI_MEAN, OPENAI_STD, ImagePreprocess, channel_stats
from qshift.encoders.hf_towers import Tower, WrappedModelEncoder
from qshift.encoders.presets import preset_for

#: open_clip interpolation names -> Pillow resampling codes
RESAMPLING = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1}
INSTALL_HINT = "pip install qshift[open_clip]"


class OpenCLIPTower(Tower):
    """One open_clip tower: ``encode_image`` on a pixel tensor or ``encode_text`` on ``input_ids``."""

    def __init__(
        self,
        model: nn.Module,
        parts: Mapping[str, nn.Module],
        params: Mapping[str, nn.Parameter],
        method: str,
        amp_dtype: torch.dtype | None,
    ):
        super().__init__(parts, amp_dtype)
        for name, param in params.items():
            self.register_parameter(name, param)
        object.__setattr__(self, "_model", model)
        self.method = method

    def embed(self, batch: Any) -> torch.Tensor:
        inputs = batch if isinstance(batch, torch.Tensor) else batch["input_ids"]
        return getattr(self._model, self.method)(inputs)


class OpenCLIPEncoder(WrappedModelEncoder):
    """An open_clip CLIP with Pillow/numpy preprocessing and the paper's CLIP presets."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Callable[[list[str]], torch.Tensor],
        preprocess: ImagePreprocess,
        amp_dtype: torch.dtype | None,
        name: str,
    ):
        super().__init__(model)
        text_parts = {n: m for n, m in model.named_children() if n != "visual"}
        text_params = {
            n: p for n, p in model.named_parameters(recurse=False) if n not in ("logit_scale", "logit_bias")
        }
        self.towers = nn.ModuleDict(
            {
                "image": OpenCLIPTower(model, {"visual": model.visual}, {}, "encode_image", amp_dtype),
                "text": OpenCLIPTower(model, text_parts, text_params, "encode_text", amp_dtype),
            }
        )
        self.tokenizer = tokenizer
        self.preprocess = preprocess
        self.name = name

    def image_tower(self) -> nn.Module:
        return self.towers["image"]

    def text_tower(self) -> nn.Module:
        return self.towers["text"]

    def prepare_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        return self.preprocess(images)

    def prepare_texts(self, texts: Sequence[str]) -> Mapping[str, torch.Tensor]:
        return {"input_ids": self.tokenizer(list(texts))}

    def adapt_params(self, direction: str) -> ParamSpec:
        """CLIP's presets: all vision LayerNorms / text LayerNorms except ``ln_final``."""
        return preset_for("open_clip", direction)


def open_clip_preprocess(model: nn.Module, source: str) -> ImagePreprocess:
    """Pillow/numpy preprocessing equivalent to open_clip's eval transform for ``model``."""
    visual = model.visual
    config = dict(getattr(visual, "preprocess_cfg", None) or {})
    size = _size_of(config, visual, source)
    mode = config.get("resize_mode", "shortest")
    interpolation = config.get("interpolation", "bicubic")
    if mode not in ("shortest", "squash"):
        raise ValueError(f"{source}: preprocess resize_mode {mode!r} is not supported (shortest, squash)")
    if interpolation not in RESAMPLING:
        raise ValueError(f"{source}: preprocess interpolation {interpolation!r} is not supported")
    square = size[0] == size[1]
    return ImagePreprocess(
        resize=size[0] if mode == "shortest" and square else size,
        crop=size if mode == "shortest" else None,
        mean=channel_stats(
            config.get("mean", getattr(visual, "image_mean", None) or OPENAI_MEAN), "mean", source
        ),
        std=channel_stats(config.get("std", getattr(visual, "image_std", None) or OPENAI_STD), "std", source),
        resample=RESAMPLING[interpolation],
    )


def _size_of(config: Mapping[str, Any], visual: nn.Module, source: str) -> tuple[int, int]:
    """(height, width) the visual tower expects."""
    size = config.get("size", getattr(visual, "image_size", None))
    if isinstance(size, int):
        return size, size
    if isinstance(size, Sequence) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{source}: cannot tell the image size of the visual tower (got {size!r})")


def _embedding_widths(encoder: OpenCLIPEncoder) -> tuple[int, int]:
    """Widths of the two towers, from one dummy forward each."""
    height, width = encoder.preprocess.output_size() or (224, 224)
    device = encoder.device
    with torch.no_grad():
        image = encoder.image_tower()(torch.zeros(1, 3, height, width, device=device))
        text = encoder.text_tower()({k: v.to(device) for k, v in encoder.prepare_texts(["a photo"]).items()})
    return image.shape[-1], text.shape[-1]


def load_open_clip_encoder(
    arch: str, checkpoint: str | Path, device: str | torch.device | None = None, precision: str = "auto"
) -> OpenCLIPEncoder:
    """Build open_clip ``arch`` with the weights of ``checkpoint``; ValueError naming the spec."""
    source = f"open_clip:{arch}:{checkpoint}"
    try:
        import open_clip
    except ImportError as err:
        raise ValueError(f"{source}: the open_clip backend is not installed ({INSTALL_HINT}): {err}") from err
    target = resolve_device(device)
    amp_dtype = resolve_precision(precision, target)
    if not Path(checkpoint).is_file():
        raise ValueError(f"{source}: checkpoint file not found: {checkpoint}")
    if arch not in open_clip.list_models():
        raise ValueError(f"{source}: unknown open_clip architecture {arch!r} (see open_clip.list_models())")
    try:
        model = open_clip.create_model(arch, pretrained=str(checkpoint), precision="fp32", device="cpu")
    except (RuntimeError, OSError, KeyError, ValueError) as err:
        raise ValueError(f"{source}: cannot load the checkpoint: {err}") from err
    encoder = OpenCLIPEncoder(
        model.eval(), open_clip.get_tokenizer(arch), open_clip_preprocess(model, source), amp_dtype, source
    )
    encoder = encoder.to(target).eval()
    image_dim, text_dim = _embedding_widths(encoder)
    if image_dim != text_dim:
        raise ValueError(f"{source}: towers disagree in width: image {image_dim} vs text {text_dim}")
    encoder.dim = image_dim
    return encoder


def load_spec(
    spec: str, device: torch.device | str | None = None, precision: str = "auto"
) -> OpenCLIPEncoder:
    """``open_clip:<arch>:<checkpoint-path>``: see :func:`load_open_clip_encoder`."""
    arch, _, checkpoint = spec.partition(":")[2].partition(":")
    if not arch or not checkpoint:
        raise ValueError(f"bad encoder spec {spec!r}: expected open_clip:<arch>:<checkpoint-path>")
    return load_open_clip_encoder(arch, checkpoint, device, precision)
