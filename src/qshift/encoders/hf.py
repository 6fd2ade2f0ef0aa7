"""Hugging Face backbones through ``hf:<dir-or-hub-id>``: the family follows the config's ``model_type``.

``load_hf_encoder("<dir-or-hub-id>")`` reads the config and hands the checkpoint to its family:

- ``clip``, ``siglip``, ``blip``: image–text (and video by frame mean), :mod:`.hf_image`;
- ``clap``: audio–text, :mod:`.hf_audio`;
- ``xclip``: video–text, :mod:`.hf_video`.

The shared parts live in :mod:`.hf_preprocess` (image and text preprocessing), :mod:`.hf_towers`
(towers, model wrappers) and :mod:`.hf_load` (config, weights, tokenizer, processor settings);
their public names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from transformers import PretrainedConfig

from qshift.encoders import resolve_device, resolve_precision
from qshift.encoders.base import RetrievalModel
from qshift.encoders.hf_audio import LogMel, load_clap
from qshift.encoders.hf_image import BLIP_MAX_TOKENS, FAMILIES, TOWER_PARTS, HFEncoder, load_image_text
from qshift.encoders.hf_load import hub_offline, load_config
from qshift.encoders.hf_preprocess import (
    BICUBIC,
    OPENAI_MEAN,
    OPENAI_STD,
    ImagePreprocess,
    TextOptions,
    channel_stats,
    size_pair,
)
from qshift.encoders.hf_towers import (
    BlipImageTower,
    BlipTextTower,
    GetterTower,
    HFRetrievalModel,
    Tower,
    WrappedModel,
    WrappedModelEncoder,
)
from qshift.encoders.hf_video import FrameMeanTower, VideoPreprocess, load_xclip

Loader = Callable[[str, PretrainedConfig, bool, torch.dtype | None], RetrievalModel]

#: model_type -> the loader of its family
LOADERS: dict[str, Loader] = {
    **{family: partial(load_image_text, family) for family in FAMILIES},
    "clap": load_clap,
    "xclip": load_xclip,
}


def load_hf_encoder(
    source: str, device: str | torch.device | None = None, precision: str = "auto"
) -> RetrievalModel:
    """Load a CLIP, SigLIP, BLIP-retrieval, CLAP or X-CLIP checkpoint (local directory or Hub id).

    With ``HF_HUB_OFFLINE=1`` only local files are used. Raises ValueError naming ``source``
    for a missing directory, an unsupported model type or towers of different widths.
    """
    target = resolve_device(device)
    amp_dtype = resolve_precision(precision, target)
    offline = hub_offline()
    config = load_config(source, offline)
    model_type = getattr(config, "model_type", None)
    if model_type not in LOADERS:
        raise ValueError(
            f"hf:{source}: unsupported model type {model_type!r} in config.json "
            f"(supported: {', '.join(sorted(LOADERS))})"
        )
    encoder = LOADERS[model_type](source, config, offline, amp_dtype)
    local = Path(source).expanduser()
    encoder.stats_anchor = local if local.is_dir() else None
    return encoder.to(target).eval()


def load_spec(spec: str, device: torch.device | str | None = None, precision: str = "auto") -> RetrievalModel:
    """``hf:<dir-or-hub-id>``: see :func:`load_hf_encoder`."""
    source = spec.partition(":")[2]
    if not source:
        raise ValueError(f"bad encoder spec {spec!r}: expected hf:<dir-or-hub-id>")
    return load_hf_encoder(source, device, precision)


__all__ = [
    "BICUBIC",
    "BLIP_MAX_TOKENS",
    "FAMILIES",
    "LOADERS",
    "OPENAI_MEAN",
    "OPENAI_STD",
    "TOWER_PARTS",
    "BlipImageTower",
    "BlipTextTower",
    "FrameMeanTower",
    "GetterTower",
    "HFEncoder",
    "HFRetrievalModel",
    "ImagePreprocess",
    "LogMel",
    "TextOptions",
    "Tower",
    "VideoPreprocess",
    "WrappedModel",
    "WrappedModelEncoder",
    "channel_stats",
    "hub_offline",
    "load_hf_encoder",
    "load_spec",
    "size_pair",
]
