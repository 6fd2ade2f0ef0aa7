"""CIRR in its public layout: ``cirr:<root>[:<split>]`` (split ``val`` unless named).

Files (benchmark.md): ``captions/cap.rc2.<split>.json``, a list of ``{"reference",
"target_hard", "caption", "img_set": {"members": [6 image names, the reference among them]}}``,
and ``image_splits/split.rc2.<split>.json``, image name → path such as ``./dev/dev-….png``
relative to the dataset root, where the NLVR2 images sit as ``train/``, ``dev/``, ``test1/``
(or under an ``img_raw/`` folder in between). Both annotation folders are also found under
``<root>/cirr/``, as the CIRR repository ships them. The split may also come from the loader
option ``split=`` (both given: they must agree).

**Protocol.** The gallery is every image of the split file. Each query's reference is removed
from its own ranking (:attr:`RetrievalDataset.excluded`); the target is ``target_hard``.
Metrics: R@1, R@5, R@10, R@50 over the gallery; Recall_subset@1/2/3, the ranking restricted to
the query's ``img_set`` members with the reference removed; and
``average = (R@5 + Recall_subset@1) / 2``.
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
USAGE = "cirr:<root>[:<split>]"
METRICS = ("r50", "rsub1", "rsub2", "rsub3", "average=mean(r5,rsub1)")


def _annotation(root: Path, folder: str, name: str) -> tuple[Path, str]:
    """(path, path relative to root) of an annotation file under ``<root>`` or ``<root>/cirr``."""
    for prefix in ("", "cirr/"):
        if (root / prefix / folder / name).is_file():
            return root / prefix / folder / name, f"{prefix}{folder}/{name}"
    raise FileNotFoundError(
        f"annotation file not found: {root / folder / name} (nor {root / 'cirr' / folder / name})"
    )


def _image_prefix(root: Path, paths: list[str]) -> str:
    """``""`` when the split's paths hold under the root, ``"img_raw/"`` when they hold under root/img_raw."""
    first = paths[0]
    if not (root / first).is_file() and (root / "img_raw" / first).is_file():
        return "img_raw/"
    return ""


class _Split:
    """The gallery and queries of one CIRR split, read from its two annotation files."""

    def __init__(self, root: Path, split: str):
        self.captions_file, self.relative_file = _annotation(root, "captions", f"cap.rc2.{split}.json")
        self.split_file, _ = _annotation(root, "image_splits", f"split.rc2.{split}.json")
        mapping = read_json(self.split_file, dict)
        names, paths = list(mapping), []
        for name, value in mapping.items():
            if not isinstance(value, str):
                raise ValueError(
                    f"{self.split_file}: image {name!r} must map to a path string, got {value!r}"
                )
            paths.append(relative_inside(value, f"{self.split_file}: image {name!r}"))
        prefix = _image_prefix(root, paths)
        self.gallery = [prefix + p for p in paths]
        self.index_of = {name: i for i, name in enumerate(names)}
        self.references: list[str] = []
        self.texts: list[str] = []
        self.targets: list[int] = []
        self.excluded: list[np.ndarray] = []
        self.subsets: list[np.ndarray] = []
        for index, entry in enumerate(read_json(self.captions_file, list)):
            self._add(entry, index)

    def _index(self, name: Any, index: int, field: str) -> int:
        return gallery_index(name, self.index_of, self.captions_file, index, field, self.split_file)

    def _add(self, entry: Any, index: int) -> None:
        path = self.captions_file
        reference = self._index(entry_value(entry, path, index, "reference", str), index, "reference")
        target = self._index(entry_value(entry, path, index, "target_hard", str), index, "target_hard")
        caption = entry_value(entry, path, index, "caption", str)
        members = entry_value(entry_value(entry, path, index, "img_set", dict), path, index, "members", list)
        subset = [self._index(m, index, "img_set.members") for m in members]
        self.references.append(reference_override(entry, path, index) or self.gallery[reference])
        self.texts.append(caption)
        self.targets.append(target)
        self.excluded.append(np.asarray([reference], dtype=np.int64))
        self.subsets.append(
            np.asarray(list(dict.fromkeys(m for m in subset if m != reference)), dtype=np.int64)
        )


def _read(spec: str, split: str | None) -> tuple[Path, _Split]:
    root, name = root_and_split(spec, "cirr", USAGE, DEFAULT_SPLIT, split)
    return root, _Split(root, name)


def load_cirr(spec: str, split: str | None = None, name: str | None = None) -> RetrievalDataset:
    """Load a CIRR split (see the module docstring for the protocol)."""
    root, data = _read(spec, split)
    return cir_dataset(
        name or spec,
        root,
        data.gallery,
        data.references,
        data.texts,
        np.asarray(data.targets, dtype=np.int64),
        excluded=data.excluded,
        subsets=data.subsets,
        metrics=METRICS,
    )


def load_spec(spec: str, **options: Any) -> RetrievalDataset:
    """``cirr:<root>[:<split>]`` (options: ``split``, ``name``)."""
    return load_cirr(spec, **options)


def layout_spec(spec: str, split: str | None = None) -> CirLayout:
    """Where the queries of ``spec`` sit on disk, in the loader's query order."""
    root, data = _read(spec, split)
    return one_file_layout("CIRR", root, "caption", data.relative_file, data.references, data.texts)
