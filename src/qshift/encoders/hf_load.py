"""Loading a Hugging Face checkpoint's parts: config, weights, tokenizer, processor settings.

Every loader takes a local directory or a Hub id; with ``HF_HUB_OFFLINE=1`` only local files
are used. Errors are ValueErrors that name ``hf:<source>`` and the part that failed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel
from transformers.image_processing_base import ImageProcessingMixin
from transformers.utils import logging as hf_logging

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for local files only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def first_line(err: Exception) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def location(source: str) -> str:
    """What ``from_pretrained`` is given: the expanded directory when it exists, else the Hub id."""
    path = Path(source).expanduser()
    return str(path) if path.is_dir() else source


def load_config(source: str, offline: bool) -> PretrainedConfig:
    """The model config of a local directory or Hub id; ValueError naming ``source`` otherwise."""
    path = Path(source).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"hf:{source}: not a model directory")
    if not path.is_dir() and not _HUB_ID.fullmatch(source):
        raise ValueError(f"hf:{source}: model directory not found")
    try:
        return AutoConfig.from_pretrained(location(source), local_files_only=offline)
    except (OSError, ValueError) as err:
        hint = " (HF_HUB_OFFLINE=1: local files only)" if offline and not path.is_dir() else ""
        raise ValueError(f"hf:{source}: cannot load a model config{hint}: {first_line(err)}") from err


@contextlib.contextmanager
def _weight_bar_off() -> Iterator[None]:
    """Silence transformers' "Loading weights" bar for one load (Hub download bars are separate)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_model(
    model_cls: type[PreTrainedModel], source: str, offline: bool, parts: Collection[str]
) -> PreTrainedModel:
    """The float32 model in eval mode; ValueError when weights of the towers' ``parts`` (top-level
    submodule names) are missing from the checkpoint (cross-attention excepted: no tower runs it)."""
    try:
        with _weight_bar_off():
            model, info = model_cls.from_pretrained(
                location(source), local_files_only=offline, dtype=torch.float32, output_loading_info=True
            )
    except (OSError, ValueError) as err:
        raise ValueError(f"hf:{source}: cannot load the model weights: {first_line(err)}") from err
    missing = sorted(
        k for k in info["missing_keys"] if k.split(".")[0] in parts and "crossattention" not in k
    )
    if missing:
        raise ValueError(f"hf:{source}: checkpoint lacks {len(missing)} tower weights, e.g. {missing[0]}")
    return model.eval()


def load_tokenizer(source: str, config: PretrainedConfig, offline: bool) -> Any:
    """The checkpoint's tokenizer, checked against the text model's vocabulary.

    transformers 5 builds an empty tokenizer when the files are missing, so a vocabulary far
    smaller than the model's (or larger: ids past the embedding table) is refused.
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(location(source), local_files_only=offline)
    except (OSError, ValueError) as err:
        raise ValueError(f"hf:{source}: cannot load a tokenizer: {first_line(err)}") from err
    vocab = config.text_config.vocab_size
    if not vocab / 2 <= len(tokenizer) <= vocab:
        raise ValueError(
            f"hf:{source}: tokenizer has {len(tokenizer)} tokens but text_config.vocab_size is {vocab} "
            "(missing or mismatched tokenizer files)"
        )
    return tokenizer


def text_limit(positions: int, tokenizer: Any, cap: int | None = None) -> int:
    """Tokens a text tower takes: its ``positions``, at most ``cap`` and the tokenizer's own limit."""
    limit = positions if cap is None else min(positions, cap)
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < limit:
        limit = model_max
    return limit


def processor_settings(source: str, offline: bool) -> dict[str, Any] | None:
    """The checkpoint's ``preprocessor_config.json`` as a dict, or None when it has none."""
    try:
        settings, _ = ImageProcessingMixin.get_image_processor_dict(
            location(source), local_files_only=offline
        )
    except OSError:
        return None
    return settings
