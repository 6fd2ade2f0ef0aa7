"""Hugging Face backbones (CLIP, SigLIP, BLIP image-text retrieval) as DualEncoders.

``load_hf_encoder("<dir-or-hub-id>")`` reads the config, picks the family from its
``model_type`` and wraps the model in two towers:

- CLIP / SigLIP: ``get_image_features`` / ``get_text_features`` (transformers 5.x returns an
  output object whose ``pooler_output`` is the projected embedding; checked on 5.24).
- BLIP (``BlipForImageTextRetrieval``, no feature getters): the ITC heads as BLIP's retrieval
  code uses them, ``vision_proj`` of the vision model's CLS token and ``text_proj`` of the CLS
  token of the text encoder run in unimodal mode (no image cross-attention).
- SigLIP2 is not supported: its NaFlex processor patchifies variable-size images, which is more
  than a resize + normalise.

Each tower registers only the submodules it runs, so ``"norm"`` and the presets of
:mod:`qshift.encoders.presets` see that tower's LayerNorms alone. Preprocessing reads the
checkpoint's ``preprocessor_config.json`` (resize, centre crop, rescale, mean/std) and applies
it with Pillow and numpy (no torchvision); without one, the family's defaults are used.

Mixed precision: weights stay float32; on CUDA the towers run under ``torch.autocast`` with
bf16/fp16. Autocast computes ``layer_norm`` in float32 (it is on autocast's fp32 op list for
CUDA), so the adapted LayerNorms keep float32 weights and float32 arithmetic; towers return
float32 embeddings. On CPU everything runs in float32.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BlipForImageTextRetrieval,
    CLIPModel,
    PretrainedConfig,
    PreTrainedModel,
    SiglipModel,
)
from transformers.image_processing_base import ImageProcessingMixin
from transformers.utils import logging as hf_logging

from qshift.encoders import resolve_device, resolve_precision
from qshift.encoders.base import DualEncoder, ParamSpec
from qshift.encoders.composed import ComposedQueries
from qshift.encoders.presets import method_defaults_for, preset_for

#: OpenAI CLIP's image statistics (also BLIP's), as in the published processor configs
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
BICUBIC = 3
#: BLIP's retrieval code tokenises with ``max_length=35`` (salesforce/BLIP, models/blip_retrieval.py)
BLIP_MAX_TOKENS = 35
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


# -- image preprocessing ----------------------------------------------------------------------
def size_pair(value: Any, field: str, source: str) -> tuple[int, int]:
    """(height, width) from an int or a ``{"height", "width"}`` mapping."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, Mapping) and "height" in value and "width" in value:
        return int(value["height"]), int(value["width"])
    raise ValueError(f"{source}: field {field!r} must be an int or {{height, width}}, got {value!r}")


def channel_stats(value: Any, field: str, source: str) -> tuple[float, float, float]:
    """Per-channel statistics from a number or a 3-list."""
    values = [value] * 3 if isinstance(value, int | float) else list(value)
    if len(values) != 3:
        raise ValueError(f"{source}: field {field!r} must hold 3 values, got {value!r}")
    return float(values[0]), float(values[1]), float(values[2])


@dataclass(frozen=True)
class ImagePreprocess:
    """Resize, optional centre crop, rescale and normalise H×W×3 uint8 images.

    ``resize`` is an int (shortest edge, aspect kept, as CLIP), an exact (height, width)
    (square resize, as BLIP/SigLIP) or None; ``crop`` is a (height, width) centre crop or None.
    """

    resize: int | tuple[int, int] | None
    crop: tuple[int, int] | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: int = BICUBIC
    rescale: float = 1 / 255
    normalize: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any], source: str, square_default: bool) -> ImagePreprocess:
        """Build from a Hugging Face image-processor config; an int ``size`` means a square when
        ``square_default`` (BLIP/SigLIP processors) and the shortest edge otherwise (CLIP)."""
        size = config.get("size")
        resize: int | tuple[int, int] | None = None
        if config.get("do_resize", True) and size is not None:
            if isinstance(size, Mapping) and "shortest_edge" in size:
                resize = int(size["shortest_edge"])
            elif isinstance(size, int) and not square_default:
                resize = size
            else:
                resize = size_pair(size, "size", source)
        crop = (
            size_pair(config.get("crop_size"), "crop_size", source) if config.get("do_center_crop") else None
        )
        return cls(
            resize=resize,
            crop=crop,
            mean=channel_stats(config.get("image_mean", OPENAI_MEAN), "image_mean", source),
            std=channel_stats(config.get("image_std", OPENAI_STD), "image_std", source),
            resample=int(config.get("resample", BICUBIC)),
            rescale=float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0,
            normalize=bool(config.get("do_normalize", True)),
        )

    def output_size(self) -> tuple[int, int] | None:
        """(height, width) of every output, or None when it depends on the input."""
        if self.crop is not None:
            return self.crop
        return self.resize if isinstance(self.resize, tuple) else None

    def _resized(self, image: Image.Image) -> Image.Image:
        if self.resize is None:
            return image
        if isinstance(self.resize, tuple):
            height, width = self.resize
        else:
            # shortest edge -> resize, the long edge scaled and truncated as HF's CLIP processor does
            short, long = sorted(image.size)
            new_long = int(self.resize * long / short)
            width, height = (
                (self.resize, new_long) if image.width <= image.height else (new_long, self.resize)
            )
        return image.resize((width, height), resample=self.resample)

    def _cropped(self, array: np.ndarray) -> np.ndarray:
        if self.crop is None:
            return array
        crop_h, crop_w = self.crop
        pad_h, pad_w = max(crop_h - array.shape[0], 0), max(crop_w - array.shape[1], 0)
        if pad_h or pad_w:
            pads = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
            array = np.pad(array, pads)
        top, left = (array.shape[0] - crop_h) // 2, (array.shape[1] - crop_w) // 2
        return array[top : top + crop_h, left : left + crop_w]

    def one(self, image: np.ndarray) -> np.ndarray:
        """One image as a normalised (3, H, W) float32 array."""
        pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
        array = self._cropped(np.asarray(self._resized(pil), dtype=np.float32)) * np.float32(self.rescale)
        if self.normalize:
            array = (array - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(array.transpose(2, 0, 1))

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """A (B, 3, H, W) float32 tensor; all images must come out the same size."""
        if len(images) == 0:
            height, width = self.output_size() or (0, 0)
            return torch.empty(0, 3, height, width)
        return torch.from_numpy(np.stack([self.one(image) for image in images]))


# -- towers -------------------------------------------------------------------------------------
def _batch_device(batch: Any) -> torch.device:
    """Device of a tensor batch or of the first tensor of a mapping batch."""
    if isinstance(batch, torch.Tensor):
        return batch.device
    return next(v.device for v in batch.values() if isinstance(v, torch.Tensor))


class Tower(nn.Module):
    """A query/gallery tower: runs :meth:`embed` (autocast on CUDA) and returns float32 (B, d)."""

    def __init__(self, parts: Mapping[str, nn.Module], amp_dtype: torch.dtype | None):
        super().__init__()
        for name, part in parts.items():
            self.add_module(name, part)
        self.amp_dtype = amp_dtype

    def embed(self, batch: Any) -> torch.Tensor:
        """Unnormalised embeddings of a prepared batch."""
        raise NotImplementedError

    def forward(self, batch: Any) -> torch.Tensor:
        device = _batch_device(batch)
        use_amp = self.amp_dtype is not None and device.type == "cuda"
        context = torch.autocast("cuda", dtype=self.amp_dtype) if use_amp else contextlib.nullcontext()
        with context:
            out = self.embed(batch)
        return out.float()


def _pooled(output: Any) -> torch.Tensor:
    """The embedding of a feature getter: a tensor (transformers 4.x) or ``pooler_output`` (5.x)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class GetterTower(Tower):
    """A CLIP/SigLIP tower calling the model's ``get_image_features`` / ``get_text_features``.

    The full model is kept outside the module tree (only the parts the getter runs are
    registered); deep copies stay consistent because the getter is looked up at call time.
    """

    def __init__(
        self, model: PreTrainedModel, parts: Sequence[str], getter: str, amp_dtype: torch.dtype | None
    ):
        super().__init__({name: getattr(model, name) for name in parts}, amp_dtype)
        object.__setattr__(self, "_model", model)
        self.getter = getter

    def embed(self, batch: Any) -> torch.Tensor:
        features = getattr(self._model, self.getter)
        return _pooled(features(pixel_values=batch) if isinstance(batch, torch.Tensor) else features(**batch))


class BlipImageTower(Tower):
    """BLIP ITC image embedding: ``vision_proj`` of the vision model's CLS token."""

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.vision_proj(self.vision_model(pixel_values=batch).last_hidden_state[:, 0])


class BlipTextTower(Tower):
    """BLIP ITC text embedding: ``text_proj`` of the CLS token of the unimodal text encoder."""

    def embed(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.text_encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self.text_proj(hidden.last_hidden_state[:, 0])


# -- the encoder --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextOptions:
    """How a family tokenises: maximum length, padding mode and the inputs its text tower takes."""

    max_length: int
    padding: str
    keys: tuple[str, ...]


class WrappedModelEncoder(DualEncoder):
    """A DualEncoder whose towers share one third-party model kept outside the module tree.

    Only the towers are registered (no duplicated state-dict entries); ``_apply`` moves and
    casts the whole wrapped model too, so parts the towers do not own (buffers, unused heads)
    follow ``.to(device)``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        object.__setattr__(self, "_model", model)

    def _apply(self, fn: Any, recurse: bool = True) -> WrappedModelEncoder:
        self._model._apply(fn)
        return super()._apply(fn, recurse)


class HFEncoder(ComposedQueries, WrappedModelEncoder):
    """A Hugging Face dual encoder: two towers, preprocessing, a preset; composed queries by
    :class:`~qshift.encoders.composed.ComposedQueries`."""

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
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.text_options = text_options
        self.dim = dim
        self.name = name

    def image_tower(self) -> nn.Module:
        return self.towers["image"]

    def text_tower(self) -> nn.Module:
        return self.towers["text"]

    def prepare_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        return self.preprocess(images)

    def prepare_texts(self, texts: Sequence[str]) -> Mapping[str, torch.Tensor]:
        options = self.text_options
        tokens = self.tokenizer(
            list(texts),
            padding=options.padding,
            truncation=True,
            max_length=options.max_length,
            return_tensors="pt",
        )
        return {key: tokens[key] for key in options.keys}

    def adapt_params(self, direction: str) -> ParamSpec:
        """The paper's trainable set for this family (see :mod:`qshift.encoders.presets`)."""
        return preset_for(self.family, direction)

    def method_defaults(self, method: str, direction: str) -> dict[str, Any]:
        """The paper's backbone-specific hyper-parameters (BLIP t2i: lr 3e-5)."""
        return method_defaults_for(self.family, direction)


# -- loading ------------------------------------------------------------------------------------
FAMILIES = {"clip": CLIPModel, "siglip": SiglipModel, "blip": BlipForImageTextRetrieval}
#: the submodules each family's towers run: (image parts, text parts)
TOWER_PARTS = {
    "clip": (("vision_model", "visual_projection"), ("text_model", "text_projection")),
    "siglip": (("vision_model",), ("text_model",)),
    "blip": (("vision_model", "vision_proj"), ("text_encoder", "text_proj")),
}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for local files only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _load_config(source: str, offline: bool) -> PretrainedConfig:
    """The model config of a local directory or Hub id; ValueError naming ``source`` otherwise."""
    path = Path(source).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"hf:{source}: not a model directory")
    if not path.is_dir() and not _HUB_ID.fullmatch(source):
        raise ValueError(f"hf:{source}: model directory not found")
    where = str(path) if path.is_dir() else source
    try:
        return AutoConfig.from_pretrained(where, local_files_only=offline)
    except (OSError, ValueError) as err:
        hint = " (HF_HUB_OFFLINE=1: local files only)" if offline and not path.is_dir() else ""
        raise ValueError(f"hf:{source}: cannot load a model config{hint}: {_first_line(err)}") from err


def _family(config: PretrainedConfig, source: str) -> str:
    """The supported family of ``config``; ValueError for other model types."""
    model_type = getattr(config, "model_type", None)
    if model_type not in FAMILIES:
        raise ValueError(
            f"hf:{source}: unsupported model type {model_type!r} in config.json "
            f"(supported: {', '.join(sorted(FAMILIES))})"
        )
    architectures = getattr(config, "architectures", None) or []
    if model_type == "blip" and architectures and "BlipForImageTextRetrieval" not in architectures:
        raise ValueError(
            f"hf:{source}: BLIP checkpoint is a {architectures[0]}; retrieval needs a "
            "BlipForImageTextRetrieval checkpoint (e.g. Salesforce/blip-itm-base-coco)"
        )
    return model_type


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


def _load_model(family: str, source: str, offline: bool) -> PreTrainedModel:
    """The float32 model; ValueError when weights of the towers are missing from the checkpoint."""
    path = Path(source).expanduser()
    where = str(path) if path.is_dir() else source
    try:
        with _weight_bar_off():
            model, info = FAMILIES[family].from_pretrained(
                where, local_files_only=offline, dtype=torch.float32, output_loading_info=True
            )
    except (OSError, ValueError) as err:
        raise ValueError(f"hf:{source}: cannot load the model weights: {_first_line(err)}") from err
    used = {part for parts in TOWER_PARTS[family] for part in parts}
    missing = sorted(k for k in info["missing_keys"] if k.split(".")[0] in used and "crossattention" not in k)
    if missing:
        raise ValueError(f"hf:{source}: checkpoint lacks {len(missing)} tower weights, e.g. {missing[0]}")
    return model.eval()


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
    path = Path(source).expanduser()
    where = str(path) if path.is_dir() else source
    label = f"hf:{source} preprocessor_config.json"
    try:
        processor_config, _ = ImageProcessingMixin.get_image_processor_dict(where, local_files_only=offline)
    except OSError:
        size = config.vision_config.image_size
        mean, std = ((0.5,) * 3, (0.5,) * 3) if family == "siglip" else (OPENAI_MEAN, OPENAI_STD)
        processor_config = {"size": {"height": size, "width": size}, "image_mean": mean, "image_std": std}
    return ImagePreprocess.from_config(processor_config, label, square_default=family != "clip")


def _text_options(family: str, config: PretrainedConfig, tokenizer: Any) -> TextOptions:
    """Tokeniser settings: positions the text model has (BLIP: 35 as its retrieval code)."""
    limit = config.text_config.max_position_embeddings
    if family == "blip":
        limit = min(limit, BLIP_MAX_TOKENS)
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < limit:
        limit = model_max
    if family == "siglip":
        # SigLIP pools the last position and was trained on max-length padding without a mask
        return TextOptions(limit, "max_length", ("input_ids",))
    return TextOptions(limit, "longest", ("input_ids", "attention_mask"))


def _load_tokenizer(source: str, config: PretrainedConfig, offline: bool) -> Any:
    """The checkpoint's tokenizer, checked against the text model's vocabulary.

    transformers 5 builds an empty tokenizer when the files are missing, so a vocabulary far
    smaller than the model's (or larger: ids past the embedding table) is refused.
    """
    path = Path(source).expanduser()
    where = str(path) if path.is_dir() else source
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=offline)
    except (OSError, ValueError) as err:
        raise ValueError(f"hf:{source}: cannot load a tokenizer: {_first_line(err)}") from err
    vocab = config.text_config.vocab_size
    if not vocab / 2 <= len(tokenizer) <= vocab:
        raise ValueError(
            f"hf:{source}: tokenizer has {len(tokenizer)} tokens but text_config.vocab_size is {vocab} "
            "(missing or mismatched tokenizer files)"
        )
    return tokenizer


def load_hf_encoder(
    source: str, device: str | torch.device | None = None, precision: str = "auto"
) -> HFEncoder:
    """Load a CLIP, SigLIP or BLIP-retrieval checkpoint (local directory or Hub id).

    With ``HF_HUB_OFFLINE=1`` only local files are used. Raises ValueError naming ``source``
    for a missing directory, an unsupported model type or towers of different widths.
    """
    target = resolve_device(device)
    amp_dtype = resolve_precision(precision, target)
    offline = hub_offline()
    config = _load_config(source, offline)
    family = _family(config, source)
    model = _load_model(family, source, offline)
    (image_dim, image_field), (text_dim, text_field) = _widths(family, model)
    if image_dim != text_dim:
        raise ValueError(
            f"hf:{source}: towers disagree in width: image {image_dim} ({image_field}) "
            f"vs text {text_dim} ({text_field})"
        )
    image_parts, text_parts = TOWER_PARTS[family]
    if family == "blip":
        image_tower: Tower = BlipImageTower({p: getattr(model, p) for p in image_parts}, amp_dtype)
        text_tower: Tower = BlipTextTower({p: getattr(model, p) for p in text_parts}, amp_dtype)
    else:
        image_tower = GetterTower(model, image_parts, "get_image_features", amp_dtype)
        text_tower = GetterTower(model, text_parts, "get_text_features", amp_dtype)
    tokenizer = _load_tokenizer(source, config, offline)
    encoder = HFEncoder(
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
    return encoder.to(target).eval()


def load_spec(spec: str, device: torch.device | str | None = None, precision: str = "auto") -> HFEncoder:
    """``hf:<dir-or-hub-id>``: see :func:`load_hf_encoder`."""
    source = spec.partition(":")[2]
    if not source:
        raise ValueError(f"bad encoder spec {spec!r}: expected hf:<dir-or-hub-id>")
    return load_hf_encoder(source, device, precision)
