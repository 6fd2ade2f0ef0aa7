"""CIRCO in its public layout: ``circo:<root>[:<split>]`` (split ``val`` unless named).

Files (benchmark.md): the gallery is the COCO 2017 unlabeled set, listed by
``<root>/COCO2017_unlabeled/annotations/image_info_unlabeled2017.json`` (``{"images": [{"id",
"file_name"}, …]}``, in that order) with images ``<root>/COCO2017_unlabeled/unlabeled2017/
<12-digit id>.jpg`` (the entry's ``file_name`` where it has one); the queries are
``<root>/annotations/<split>.json``, a list of ``{"id", "reference_img_id", "target_img_id",
"relative_caption", "shared_concept", "gt_img_ids"}``. The modification text is the
``relative_caption``. The split may also come from the loader option ``split=``.

**Protocol.** Every ``gt_img_ids`` image is a correct target (several ground truths per query);
the reference is removed from its own ranking. Metrics mAP@K for K = 5, 10, 25, 50 with
AP@K = Σ_{i≤K} Prec@i · rel_i / min(|G|, K), averaged over queries
(:func:`qshift.metrics.RankAccumulator`'s ``map@K``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qshift.data.base import RetrievalDataset
from qshift.data.cir import (
    cir_dataset,
    entry_value,
    gallery_index,
    one_file_layout,
    reference_override,
    root_and_split,
)
from qshift.utils.annotations import read_json
from qshift.utils.cir_layout import CirLayout, relative_inside

DEFAULT_SPLIT = "val"
USAGE = "circo:<root>[:<split>]"
METRICS = ("map@5", "map@10", "map@25", "map@50")
GALLERY_INFO = "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json"
IMAGE_FOLDER = "COCO2017_unlabeled/unlabeled2017"


def _gallery(root: Path) -> tuple[Path, list[str], dict[int, int]]:
    """(info file, image paths relative to root, image id → gallery index) of the unlabeled set."""
    info_file = root / GALLERY_INFO
    info = read_json(info_file, dict)
    images = info.get("images")
    if not isinstance(images, list) or not images:
        raise ValueError(f"{info_file}: field 'images' must be a non-empty list")
    paths: list[str] = []
    index_of: dict[int, int] = {}
    for position, image in enumerate(images):
        image_id = entry_value(image, info_file, position, "id", int)
        if image_id in index_of:
            raise ValueError(f"{info_file}: image id {image_id} is listed twice")
        index_of[image_id] = position
        file_name = image.get("file_name", f"{image_id:012d}.jpg")
        where = f"{info_file}: entry {position} field 'file_name'"
        paths.append(f"{IMAGE_FOLDER}/{relative_inside(str(file_name), where)}")
    return info_file, paths, index_of


class _Split:
    """The gallery and the queries of one CIRCO split."""

    def __init__(self, root: Path, split: str):
        self.relative_file = f"annotations/{split}.json"
        self.annotation = root / self.relative_file
        self.info_file, self.gallery, self.index_of = _gallery(root)
        self.references: list[str] = []
        self.texts: list[str] = []
        self.targets: list[np.ndarray] = []
        self.excluded: list[np.ndarray] = []
        for index, entry in enumerate(read_json(self.annotation, list)):
            self._add(entry, index)

    def _index(self, image_id: Any, index: int, field: str) -> int:
        return gallery_index(image_id, self.index_of, self.annotation, index, field, self.info_file)

    def _add(self, entry: Any, index: int) -> None:
        path = self.annotation
        reference = self._index(
            entry_value(entry, path, index, "reference_img_id", int), index, "reference_img_id"
        )
        caption = entry_value(entry, path, index, "relative_caption", str)
        truths = entry_value(entry, path, index, "gt_img_ids", list)
        if not truths:
            raise ValueError(f"{path}: entry {index} field 'gt_img_ids' is empty")
        relevant = [self._index(t, index, "gt_img_ids") for t in truths]
        self.references.append(reference_override(entry, path, index) or self.gallery[reference])
        self.texts.append(caption)
        self.targets.append(np.asarray(list(dict.fromkeys(relevant)), dtype=np.int64))
        self.excluded.append(np.asarray([reference], dtype=np.int64))


def _read(spec: str, split: str | None) -> tuple[Path, _Split]:
    root, name = root_and_split(spec, "circo", USAGE, DEFAULT_SPLIT, split)
    return root, _Split(root, name)


def load_circo(spec: str, split: str | None = None, name: str | None = None) -> RetrievalDataset:
    """Load a CIRCO split (see the module docstring for the protocol)."""
    root, data = _read(spec, split)
    return cir_dataset(
        name or spec,
        root,
        data.gallery,
        data.references,
        data.texts,
        data.targets,
        excluded=data.excluded,
        metrics=METRICS,
    )


def load_spec(spec: str, **options: Any) -> RetrievalDataset:
    """``circo:<root>[:<split>]`` (options: ``split``, ``name``)."""
    return load_circo(spec, **options)


def layout_spec(spec: str, split: str | None = None) -> CirLayout:
    """Where the queries of ``spec`` sit on disk, in the loader's query order."""
    root, data = _read(spec, split)
    return one_file_layout("CIRCO", root, "relative_caption", data.relative_file, data.references, data.texts)
