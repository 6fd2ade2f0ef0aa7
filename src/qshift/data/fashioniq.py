"""FashionIQ (dress, shirt, toptee) in its public layout: ``fashioniq:<root>[:<category>]``.

Files (benchmark.md): ``<root>/captions/cap.<category>.<split>.json``, a list of
``{"candidate", "target", "captions": [two relative captions]}``;
``<root>/image_splits/split.<category>.<split>.json``, the gallery's image names;
images ``<root>/images/<name>.png`` (``.jpg`` is read where no ``.png`` exists). The split is
``val`` (the protocol's) unless the loader option ``split=`` names another (``train`` for
training a combiner).

Each query's modification text joins its captions as "c1 and c2", each caption stripped of
surrounding spaces and the characters ``.?,`` as CLIP4Cir's validation does (without its
capitalisation); an entry with a single caption (a shifted copy's already joined text) is used
as written. The target must be in the category's gallery. The reference stays in the gallery,
as in the protocol.

**Protocol.** Each category is ranked against its own gallery. ``fashioniq:<root>`` loads the
three categories as one dataset: the gallery is the three galleries one after another, and each
query excludes the other categories' items (:attr:`RetrievalDataset.excluded`), so its ranking
is exactly the one of its category's own gallery. The metrics are R@10 and R@50 per category
(``r10_dress``, ``r50_dress``, …, each over that category's queries), their means over the
categories (``r10_mean``, ``r50_mean``) and ``average = (r10_mean + r50_mean) / 2``. The core
``r1``/``r5``/``r10`` (and ``r50``) pool all queries, so they weight the categories by their
query counts. Adaptation sees one stream mixing the three categories.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from qshift.data.base import RetrievalDataset
from qshift.data.cir import (
    check_root,
    cir_dataset,
    entry_value,
    gallery_index,
    reference_override,
    resolve_split,
    spec_fields,
)
from qshift.utils.annotations import read_json
from qshift.utils.cir_layout import CirLayout, QueryEntry

CATEGORIES = ("dress", "shirt", "toptee")
DEFAULT_SPLIT = "val"
USAGE = f"fashioniq:<root>[:<category>] with category one of {', '.join(CATEGORIES)}"
#: characters stripped from both ends of each caption before joining (CLIP4Cir's validation)
STRIP = ".?, \t\n"


def join_captions(captions: list[str]) -> str:
    """One modification text from the relative captions: "c1 and c2" (one caption: as written)."""
    if len(captions) == 1:
        return captions[0]
    return " and ".join(c.strip(STRIP) for c in captions)


class _Category:
    """One category's gallery and queries, read from its two annotation files."""

    def __init__(self, root: Path, category: str, split: str, on_disk: set[str]):
        self.captions_file = root / "captions" / f"cap.{category}.{split}.json"
        self.split_file = root / "image_splits" / f"split.{category}.{split}.json"
        self.relative_file = f"captions/cap.{category}.{split}.json"
        names = read_json(self.split_file, list)
        for position, name in enumerate(names):
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"{self.split_file}: item {position} must be a non-empty image name")
        self.index_of = {name: i for i, name in enumerate(names)}
        if len(self.index_of) != len(names):
            duplicate = next(n for i, n in enumerate(names) if self.index_of[n] != i)
            raise ValueError(f"{self.split_file}: image {duplicate!r} is listed twice")
        self.gallery = [image_path(name, on_disk) for name in names]
        self.references: list[str] = []
        self.texts: list[str] = []
        self.targets: list[int] = []
        for index, entry in enumerate(read_json(self.captions_file, list)):
            self._add(entry, index, on_disk)

    def _add(self, entry: Any, index: int, on_disk: set[str]) -> None:
        path = self.captions_file
        candidate = entry_value(entry, path, index, "candidate", str)
        target = entry_value(entry, path, index, "target", str)
        captions = entry_value(entry, path, index, "captions", list)
        if not captions or not all(isinstance(c, str) and c.strip() for c in captions):
            raise ValueError(
                f"{path}: entry {index} field 'captions' must be a non-empty list of non-empty strings"
            )
        self.targets.append(gallery_index(target, self.index_of, path, index, "target", self.split_file))
        self.references.append(reference_override(entry, path, index) or image_path(candidate, on_disk))
        self.texts.append(join_captions(captions))


def image_path(name: str, on_disk: set[str]) -> str:
    """``images/<name>.png``, or ``images/<name>.jpg`` when only that exists."""
    return (
        f"images/{name}.jpg"
        if f"{name}.png" not in on_disk and f"{name}.jpg" in on_disk
        else f"images/{name}.png"
    )


def _parse(spec: str, split: str | None) -> tuple[Path, list[str], str]:
    """(root, categories, split) of a ``fashioniq:`` spec."""
    fields = spec_fields(spec, "fashioniq", USAGE, 2)
    root = check_root(fields[0])
    categories = list(CATEGORIES) if len(fields) == 1 else [fields[1]]
    if categories[0] not in CATEGORIES:
        raise ValueError(
            f"bad dataset spec {spec!r}: unknown FashionIQ category {fields[1]!r}; expected {USAGE}"
        )
    return root, categories, resolve_split(None, split, DEFAULT_SPLIT, spec)


def _read(spec: str, split: str | None) -> tuple[Path, list[str], list[_Category]]:
    root, categories, chosen = _parse(spec, split)
    images = root / "images"
    on_disk = set(os.listdir(images)) if images.is_dir() else set()
    return root, categories, [_Category(root, c, chosen, on_disk) for c in categories]


def protocol_metrics(categories: list[str], blocks: list[tuple[int, int]]) -> tuple[str, ...]:
    """The metric definitions of the protocol: R@10/R@50 per category, their means, the average."""
    per_category = [
        f"r{k}_{c}=r{k}[{lo}:{hi}]" for c, (lo, hi) in zip(categories, blocks, strict=True) for k in (10, 50)
    ]
    means = [f"r{k}_mean=mean({','.join(f'r{k}_{c}' for c in categories)})" for k in (10, 50)]
    return ("r50", *per_category, *means, "average=mean(r10_mean,r50_mean)")


def load_fashioniq(spec: str, split: str | None = None, name: str | None = None) -> RetrievalDataset:
    """Load one FashionIQ category, or all three as one dataset (see the module docstring)."""
    root, categories, parts = _read(spec, split)
    gallery: list[str] = []
    blocks: list[tuple[int, int]] = []
    for part in parts:
        blocks.append((len(gallery), len(gallery) + len(part.gallery)))
        gallery += part.gallery
    total = len(gallery)
    excluded: list[np.ndarray] | None = [] if len(parts) > 1 else None
    targets: list[int] = []
    for part, (lo, hi) in zip(parts, blocks, strict=True):
        targets += [lo + t for t in part.targets]
        if excluded is not None:
            others = np.concatenate([np.arange(0, lo), np.arange(hi, total)]).astype(np.int64)
            excluded += [others] * len(part.targets)  # one shared array per category
    return cir_dataset(
        name or spec,
        root,
        gallery,
        [r for part in parts for r in part.references],
        [t for part in parts for t in part.texts],
        np.asarray(targets, dtype=np.int64),
        excluded=excluded,
        metrics=protocol_metrics(categories, blocks),
    )


def load_spec(spec: str, **options: Any) -> RetrievalDataset:
    """``fashioniq:<root>[:<category>]`` (options: ``split``, ``name``)."""
    return load_fashioniq(spec, **options)


def layout_spec(spec: str, split: str | None = None) -> CirLayout:
    """Where the queries of ``spec`` sit on disk, in the loader's query order."""
    root, _, parts = _read(spec, split)
    queries = [
        QueryEntry(part.relative_file, index, reference, text)
        for part in parts
        for index, (reference, text) in enumerate(zip(part.references, part.texts, strict=True))
    ]
    return CirLayout("FashionIQ", root, "captions", True, tuple(queries))
