"""Hugging Face image–text backbones (CLIP, SigLIP, BLIP image-text retrieval) as DualEncoders.

Each family is wrapped in two towers:

- CLIP / SigLIP: ``get_image_features`` / ``get_text_features`` (transformers 5.x returns an
  output object whose ``pooler_output`` is the projected embedding; checked on 5.24).
- BLIP (``BlipForImageTextRetrieval``, no feature getters): the ITC heads as BLIP's retrieval
  code uses them, ``vision_proj`` of the vision model's CLS token and ``text_proj`` of the CLS
  token of the text encoder run in unimodal mode (no image cross-attention).
- SigLIP2 is not supported: its NaFlex processor patchifies variable-size images, which is more
  than a resize + normalise.

Every family also embeds **video** by the frame mean of its image tower (CLIP4Clip's
mean-pooling baseline, :class:`~qshift.encoders.hf_video.FrameMeanTower`), for tasks ``v2t`` /
``t2v``. Preprocessing reads the checkpoint's ``preprocessor_config.json``; without one, the
family's defaults are used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import BlipForImageTextRetrieval, CLIPModel, PretrainedConfig, PreTrainedModel, SiglipModel

from qshift.encoders.base import ParamSpec
from qshift.encoders.composed import COMPOSED, ComposedQueries
from qshift.encoders.hf_load import load_model, load_tokenizer, processor_settings, text_limit
from qshift.encoders.hf_preprocess import OPENAI_MEAN, OPENAI_STD, ImagePreprocess, TextOptions, tokenize
from qshift.encoders.hf_towers import BlipImageTower, BlipTextTower, GetterTower, Tower, WrappedModelEncoder
from qshift.encoders.hf_video import FrameMeanTower, VideoPreprocess
from qshift.encoders.presets import method_defaults_for, preset_for

#: BLIP's retrieval code tokenises with ``max_length=35`` (salesforce/BLIP, models/blip_retrieval.py)
BLIP_MAX_TOKENS = 35
FAMILIES = {"clip": CLIPModel, "siglip": SiglipModel, "blip": BlipForImageTextRetrieval}
#: the submodules each family's towers run: (image parts, text parts)
TOWER_PARTS = {
    "clip": (("vision_model", "visual_projection"), ("text_model", "text_projection")),
    "siglip": (("vision_model",), ("text_model",)),
    "blip": (("vision_model", "vision_proj"), ("text_encoder", "text_proj")),
}


class HFEncoder(ComposedQueries, WrappedModelEncoder):
    """A Hugging Face image–text encoder: two towers, the checkpoint's preprocessing, a preset, the
    frame mean of the image tower for video, and composed image+text queries
    (:class:`~qshift.encoders.composed.ComposedQueries`).

    The video tower wraps the registered image tower and is kept out of the module tree (it has
    no parameters of its own), so the state dict holds each weight once.
    """

    modalities = ("image", "text", "video", COMPOSED)

    def __init__(
        self,
        model: PreTrainedModel,
        family: str,
        image_tower: Tower,
        text_tower: Tower,
        preprocess: ImagePreprocess,
        tokenizer: Any,
        text_options: TextOptions,
        dim: int,
        name: str,
    ):
        super().__init__(model)
        self.family = family
        self.towers = nn.ModuleDict({"image": image_tower, "text": text_tower})
        object.__setattr__(self, "_video_tower", FrameMeanTower(image_tower))
        self.preprocess = preprocess
        self.video_preprocess = VideoPreprocess(preprocess)
        self.tokenizer = tokenizer
        self.text_options = text_options
        self.dim = dim
        self.name = name

    def image_tower(self) -> nn.Module:
        return self.towers["image"]

    def text_tower(self) -> nn.Module:
        return self.towers["text"]

    def video_tower(self) -> nn.Module:
        """The frame mean of the image tower (CLIP4Clip's mean pooling)."""
        return self._video_tower

    def tower(self, modality: str) -> nn.Module:
        self.check_modality(modality)
        return self.video_tower() if modality == "video" else super().tower(modality)

    def prepare(self, modality: str, items: Sequence[Any]) -> Any:
        self.check_modality(modality)
        return self.video_preprocess(items) if modality == "video" else super().prepare(modality, items)

    def prepare_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        return self.preprocess(images)

    def prepare_texts(self, texts: Sequence[str]) -> Mapping[str, torch.Tensor]:
        return tokenize(self.tokenizer, self.text_options, texts)

    def adapt_params(self, direction: str) -> ParamSpec:
        """The paper's trainable set for this family (see :mod:`qshift.encoders.presets`)."""
        return preset_for(self.family, direction)

    def method_defaults(self, method: str, direction: str) -> dict[str, Any]:
        """The paper's backbone-specific hyper-parameters (BLIP t2i: lr 3e-5)."""
        return method_defaults_for(self.family, direction)


def check_blip_architecture(config: PretrainedConfig, source: str) -> None:
    """ValueError for a BLIP checkpoint that is not an image-text retrieval one."""
    architectures = getattr(config, "architectures", None) or []
    if architectures and "BlipForImageTextRetrieval" not in architectures:
        raise ValueError(
            f"hf:{source}: BLIP checkpoint is a {architectures[0]}; retrieval needs a "
            "BlipForImageTextRetrieval checkpoint (e.g. Salesforce/blip-itm-base-coco)"
        )


def _widths(family: str, model: PreTrainedModel) -> tuple[tuple[int, str], tuple[int, str]]:
    """(image width, field), (text width, field) of the shared embedding space."""
    if family == "clip":
        return (
            (model.visual_projection.out_features, "projection of vision_config"),
            (model.text_projection.out_features, "projection of text_config"),
        )
    if family == "siglip":
        vision = model.config.vision_config
        if not getattr(vision, "vision_use_head", True):
            raise ValueError("SigLIP vision_config.vision_use_head is false: no pooled image embedding")
        return (vision.hidden_size, "vision_config.hidden_size"), (
            model.text_model.head.out_features,
            "text_config.projection_size",
        )
    return (
        (model.vision_proj.out_features, "image_text_hidden_size (vision_proj)"),
        (model.text_proj.out_features, "image_text_hidden_size (text_proj)"),
    )


def _load_preprocess(family: str, source: str, config: PretrainedConfig, offline: bool) -> ImagePreprocess:
    """The checkpoint's image-processor settings, or the family defaults when it has none."""
    settings = processor_settings(source, offline)
    if settings is None:
        size = config.vision_config.image_size
        mean, std = ((0.5,) * 3, (0.5,) * 3) if family == "siglip" else (OPENAI_MEAN, OPENAI_STD)
        settings = {"size": {"height": size, "width": size}, "image_mean": mean, "image_std": std}
    label = f"hf:{source} preprocessor_config.json"
    return ImagePreprocess.from_config(settings, label, square_default=family != "clip")


def _text_options(family: str, config: PretrainedConfig, tokenizer: Any) -> TextOptions:
    """Tokeniser settings: positions the text model has (BLIP: 35 as its retrieval code)."""
    cap = BLIP_MAX_TOKENS if family == "blip" else None
    limit = text_limit(config.text_config.max_position_embeddings, tokenizer, cap)
    if family == "siglip":
        # SigLIP pools the last position and was trained on max-length padding without a mask
        return TextOptions(limit, "max_length", ("input_ids",))
    return TextOptions(limit, "longest", ("input_ids", "attention_mask"))


def load_image_text(
    family: str, source: str, config: PretrainedConfig, offline: bool, amp_dtype: torch.dtype | None
) -> HFEncoder:
    """A CLIP, SigLIP or BLIP-retrieval checkpoint as an :class:`HFEncoder`.

    Raises ValueError naming ``source`` for towers of different widths or a BLIP checkpoint of
    another architecture.
    """
    if family == "blip":
        check_blip_architecture(config, source)
    image_parts, text_parts = TOWER_PARTS[family]
    model = load_model(FAMILIES[family], source, offline, image_parts + text_parts)
    (image_dim, image_field), (text_dim, text_field) = _widths(family, model)
    if image_dim != text_dim:
        raise ValueError(
            f"hf:{source}: towers disagree in width: image {image_dim} ({image_field}) "
            f"vs text {text_dim} ({text_field})"
        )
    if family == "blip":
        image_tower: Tower = BlipImageTower({p: getattr(model, p) for p in image_parts}, amp_dtype)
        text_tower: Tower = BlipTextTower({p: getattr(model, p) for p in text_parts}, amp_dtype)
    else:
        image_tower = GetterTower(model, image_parts, "get_image_features", amp_dtype)
        text_tower = GetterTower(model, text_parts, "get_text_features", amp_dtype)
    tokenizer = load_tokenizer(source, config, offline)
    return HFEncoder(
        model=model,
        family=family,
        image_tower=image_tower,
        text_tower=text_tower,
        preprocess=_load_preprocess(family, source, config, offline),
        tokenizer=tokenizer,
        text_options=_text_options(family, config, tokenizer),
        dim=image_dim,
        name=f"hf:{source}",
    )
