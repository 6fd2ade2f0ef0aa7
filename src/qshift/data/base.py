"""The RetrievalDataset every data source produces.

Relevance is expressed by *groups*: image i and text j are relevant to each other when
``image_groups[i] == text_groups[j]``. One-to-many (COCO: an image and its 5 captions) sets
the image's group to its index; many-to-many (Fashion-Gen products, PEDES person ids) uses
the shared id. Images are loaded lazily, one file at a time, by an :class:`ImageSource`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

#: baseline softmax temperature over the gallery by dataset family (method.md §3)
DEFAULT_TEMPERATURE = 0.01


class ImageSource:
    """Lazy, indexable collection of H×W×3 uint8 RGB images."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> np.ndarray:
        raise NotImplementedError


class ImageFiles(ImageSource):
    """Images read from ``root / relative_path`` on demand; bad files are reported by path."""

    def __init__(self, root: str | Path, paths: Sequence[str]):
        self.root = Path(root)
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def path(self, index: int) -> Path:
        """Absolute path of image ``index``."""
        return self.root / self.paths[index]

    def __getitem__(self, index: int) -> np.ndarray:
        path = self.path(index)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"unreadable image file: {path} ({err})") from err


class GeneratedImages(ImageSource):
    """Images produced on demand by a function of the index (the procedural scenes)."""

    def __init__(self, count: int, render: Callable[[int], np.ndarray]):
        self.count = count
        self.render = render

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.render(index)


class ImageSubset(ImageSource):
    """The images of ``source`` at ``indices``, in that order."""

    def __init__(self, source: ImageSource, indices: Sequence[int]):
        self.source = source
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.source[self.indices[index]]


@dataclass
class RetrievalDataset:
    """Images, captions and their relevance, plus optional native text shifts.

    ``text_variants`` maps a shift name (e.g. ``"formal"``) to a full alternative caption
    list aligned with ``texts``: the dataset's own rendering of that shift, used instead of a
    model-based perturbation when present.
    """

    name: str
    images: ImageSource
    texts: list[str]
    image_groups: np.ndarray
    text_groups: np.ndarray
    temperature: float = DEFAULT_TEMPERATURE
    text_variants: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image_groups = np.asarray(self.image_groups, dtype=np.int64)
        self.text_groups = np.asarray(self.text_groups, dtype=np.int64)
        if len(self.texts) == 0:
            raise ValueError(f"dataset {self.name!r} has no captions")
        if len(self.images) == 0:
            raise ValueError(f"dataset {self.name!r} has no images")
        if self.image_groups.shape != (len(self.images),):
            raise ValueError(f"dataset {self.name!r}: image_groups must have one entry per image")
        if self.text_groups.shape != (len(self.texts),):
            raise ValueError(f"dataset {self.name!r}: text_groups must have one entry per caption")
        for shift, variant in self.text_variants.items():
            if len(variant) != len(self.texts):
                raise ValueError(f"dataset {self.name!r}: text variant {shift!r} is not aligned with texts")

    @property
    def num_images(self) -> int:
        return len(self.images)

    @property
    def num_texts(self) -> int:
        return len(self.texts)

    def subset_images(self, indices: Sequence[int]) -> RetrievalDataset:
        """A copy keeping only the images at ``indices`` (captions untouched).

        Like :meth:`subset_texts` for t2i, this picks an image-query subset for i2t while the
        text gallery stays whole; t2i on the copy scores captions of dropped images as misses.
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= self.num_images:
            raise ValueError(f"dataset {self.name!r}: image indices must lie in [0, {self.num_images})")
        return RetrievalDataset(
            name=self.name,
            images=ImageSubset(self.images, idx.tolist()),
            texts=self.texts,
            image_groups=self.image_groups[idx],
            text_groups=self.text_groups,
            temperature=self.temperature,
            text_variants=self.text_variants,
        )

    def subset_texts(self, indices: Sequence[int]) -> RetrievalDataset:
        """A copy keeping only the captions at ``indices`` (images untouched)."""
        idx = np.asarray(indices, dtype=np.int64)
        return RetrievalDataset(
            name=self.name,
            images=self.images,
            texts=[self.texts[i] for i in idx],
            image_groups=self.image_groups,
            text_groups=self.text_groups[idx],
            temperature=self.temperature,
            text_variants={k: [v[i] for i in idx] for k, v in self.text_variants.items()},
        )
