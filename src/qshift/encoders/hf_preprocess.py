"""Preprocessing of the Hugging Face backbones: images as the checkpoint's processor does, and text.

Images: the checkpoint's ``preprocessor_config.json`` (resize, centre crop, rescale, mean/std)
applied with Pillow and numpy (no torchvision). Texts: the checkpoint's tokenizer with the
family's maximum length, padding mode and input keys (:class:`TextOptions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

#: OpenAI CLIP's image statistics (also BLIP's), as in the published processor configs
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
#: ImageNet statistics (X-CLIP's published processor config)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BICUBIC = 3


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


# -- text -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextOptions:
    """How a family tokenises: maximum length, padding mode and the inputs its text tower takes."""

    max_length: int
    padding: str
    keys: tuple[str, ...]


def tokenize(tokenizer: Any, options: TextOptions, texts: Sequence[str]) -> dict[str, torch.Tensor]:
    """The text tower's input mapping for ``texts``, truncated to ``options.max_length``."""
    tokens = tokenizer(
        list(texts),
        padding=options.padding,
        truncation=True,
        max_length=options.max_length,
        return_tensors="pt",
    )
    return {key: tokens[key] for key in options.keys}
