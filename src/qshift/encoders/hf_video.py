"""Video on Hugging Face backbones: X-CLIP (``XCLIPModel``) and the frame mean of an image tower.

A clip is a (T, H, W, 3) uint8 array. The prepare step (:class:`VideoPreprocess`) runs the
checkpoint's image preprocessing on every frame and returns ``pixel_values`` (B, T, 3, H, W)
with a (B, T) ``frame_mask`` of real frames (clips of a batch may differ in length).

- **Frame mean** (:class:`FrameMeanTower`), the mean-pooling baseline of CLIP4Clip (Luo et al.,
  2022, ``sim_header="meanP"``): the image tower embeds every frame, each frame embedding is
  L2-normalised and the clip is their mean over its real frames. Any image–text family of
  :mod:`qshift.encoders.hf_image` gains the ``video`` modality this way; the tower contains the
  image tower, so adapting it adapts the image tower's LayerNorms.
- **X-CLIP** (Ni et al., "Expanding Language-Image Pretrained Models for General Video
  Recognition", ECCV 2022; ``microsoft/xclip-*``): the video tower is ``get_video_features``
  (the per-frame vision model with cross-frame message tokens, the visual projection and the
  multi-frame integration transformer), which needs exactly ``vision_config.num_frames`` frames:
  clips are resampled to that count by segment middles (:func:`qshift.utils.signals.segment_middles`).
  The text tower is ``get_text_features``.

**X-CLIP's text embedding depends on the video.** X-CLIP scores a (video, text) pair with the
text embedding plus a *video-specific prompt*: ``prompts_generator`` cross-attends from the text
embedding to the video's patch features and adds ``alpha · prompt`` (``alpha`` learned,
initialised at 0.1). A retrieval gallery is embedded once, independently of the query, and a
query is scored against every gallery item with one dot product, so no single conditioned text
embedding exists: qshift uses the **unconditioned** text embedding (``get_text_features``, the
prompt residual left out) on both sides, for ``v2t`` and ``t2v``. Scores are the cosine of the
video embedding and this text embedding. X-CLIP's published numbers (Kinetics-400 top-1,
zero-shot HMDB-51 / UCF-101 / Kinetics-600) use the prompted text per pair; numbers measured
here are those of X-CLIP without its prompt generator and are expected to fall below a pairwise
evaluation, which would need one prompt-generator pass per (query, gallery item) pair. The
model was trained for video recognition; it publishes no MSR-VTT retrieval result to compare
with (the video–text retrieval model also called X-CLIP, Ma et al. 2022, is another model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, XCLIPModel

from qshift.encoders.hf_load import load_model, load_tokenizer, processor_settings, text_limit
from qshift.encoders.hf_preprocess import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocess, TextOptions, tokenize
from qshift.encoders.hf_towers import GetterTower, HFRetrievalModel, Tower, pooled
from qshift.utils.signals import segment_middles

#: X-CLIP's towers: (video parts, text parts)
XCLIP_PARTS = (("vision_model", "visual_projection", "mit"), ("text_model", "text_projection"))


def check_clip(clip: Any, index: int) -> np.ndarray:
    """Clip ``index`` of a batch as a (T, H, W, 3) uint8 array; ValueError naming its shape."""
    array = np.asarray(clip)
    if array.ndim != 4 or array.shape[-1] != 3 or 0 in array.shape or array.dtype != np.uint8:
        raise ValueError(
            f"video item {index} must be a non-empty (T, H, W, 3) uint8 clip, got {array.dtype}{array.shape}"
        )
    return array


@dataclass(frozen=True)
class VideoPreprocess:
    """Clips → ``{"pixel_values": (B, T, 3, H, W), "frame_mask": (B, T)}``.

    Every frame goes through ``image``; with ``frames`` each clip is first resampled to that many
    frames (segment middles), else clips keep their length and shorter ones are zero-padded
    (masked out).
    """

    image: ImagePreprocess
    frames: int | None = None

    def __call__(self, clips: Sequence[Any]) -> dict[str, torch.Tensor]:
        stacks = []
        for index, clip in enumerate(clips):
            array = check_clip(clip, index)
            if self.frames is not None:
                array = array[segment_middles(len(array), self.frames)]
            stacks.append(self.image(list(array)))
        if not stacks:
            height, width = self.image.output_size() or (0, 0)
            length = self.frames or 0
            return {
                "pixel_values": torch.empty(0, length, 3, height, width),
                "frame_mask": torch.empty(0, length, dtype=torch.bool),
            }
        longest = max(len(s) for s in stacks)
        pixels = torch.zeros(len(stacks), longest, *stacks[0].shape[1:])
        mask = torch.zeros(len(stacks), longest, dtype=torch.bool)
        for row, frames in enumerate(stacks):
            pixels[row, : len(frames)] = frames
            mask[row, : len(frames)] = True
        return {"pixel_values": pixels, "frame_mask": mask}


class FrameMeanTower(nn.Module):
    """CLIP4Clip's mean pooling: the mean of the L2-normalised image embeddings of a clip's frames.

    Contains the image tower (``frames``), so its parameters are the image tower's.
    """

    def __init__(self, image_tower: nn.Module):
        super().__init__()
        self.frames = image_tower

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        pixels, mask = batch["pixel_values"], batch["frame_mask"].bool()
        rows = mask.shape[0]
        per_frame = F.normalize(self.frames(pixels[mask]).float(), dim=-1)
        owner = torch.arange(rows, device=mask.device)[:, None].expand_as(mask)[mask]
        total = per_frame.new_zeros(rows, per_frame.shape[1]).index_add(0, owner, per_frame)
        return total / mask.sum(dim=1, keepdim=True).clamp(min=1).to(total.dtype)


class XClipVideoTower(GetterTower):
    """X-CLIP's ``get_video_features`` on the ``pixel_values`` of a prepared clip batch."""

    def embed(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return pooled(self._model.get_video_features(pixel_values=batch["pixel_values"]))


def _xclip_preprocess(source: str, config: PretrainedConfig, offline: bool) -> ImagePreprocess:
    """The checkpoint's processor settings (VideoMAE style: an int ``size`` is the shortest edge), or
    X-CLIP's published ones at the config's image size: shortest edge and centre crop, ImageNet
    statistics."""
    settings = processor_settings(source, offline)
    if settings is None:
        size = config.vision_config.image_size
        settings = {
            "size": {"shortest_edge": size},
            "do_center_crop": True,
            "crop_size": {"height": size, "width": size},
            "image_mean": IMAGENET_MEAN,
            "image_std": IMAGENET_STD,
        }
    return ImagePreprocess.from_config(
        settings, f"hf:{source} preprocessor_config.json", square_default=False
    )


def load_xclip(
    source: str, config: PretrainedConfig, offline: bool, amp_dtype: torch.dtype | None
) -> HFRetrievalModel:
    """X-CLIP as a video–text model (tasks ``v2t`` / ``t2v``), text unconditioned (module doc)."""
    vision = config.vision_config
    if vision.mit_hidden_size != config.projection_dim:
        raise ValueError(
            f"hf:{source}: vision_config.mit_hidden_size ({vision.mit_hidden_size}) must equal "
            f"projection_dim ({config.projection_dim}): the integration transformer reads projected frames"
        )
    video_parts, text_parts = XCLIP_PARTS
    model = load_model(XCLIPModel, source, offline, video_parts + text_parts)
    tokenizer = load_tokenizer(source, config, offline)
    options = TextOptions(
        text_limit(config.text_config.max_position_embeddings, tokenizer),
        "longest",
        ("input_ids", "attention_mask"),
    )
    towers: dict[str, Tower] = {
        "video": XClipVideoTower(model, video_parts, "get_video_features", amp_dtype),
        "text": GetterTower(model, text_parts, "get_text_features", amp_dtype),
    }
    prepares = {
        "video": VideoPreprocess(_xclip_preprocess(source, config, offline), frames=vision.num_frames),
        "text": partial(tokenize, tokenizer, options),
    }
    return HFRetrievalModel(model, "xclip", towers, prepares, config.projection_dim, f"hf:{source}")
