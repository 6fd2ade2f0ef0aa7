"""What the composed image retrieval loaders share: lazy composed queries, checked JSON, splits.

The formats themselves live in :mod:`qshift.data.fashioniq`, :mod:`qshift.data.cirr` and
:mod:`qshift.data.circo` (benchmark.md "Composed image retrieval"). Each builds a
:class:`~qshift.data.base.RetrievalDataset` of the ``cir`` task with :func:`cir_dataset`: queries
of modality ``image+text`` (:class:`~qshift.tasks.ComposedQuery`, the reference image read from
disk on access) and a gallery of ``image`` items, gallery item ``i`` in group ``i``. Each also
describes where its queries sit on disk (:func:`composed_layout`), for ``qshift shift cir``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qshift.data.base import DEFAULT_TEMPERATURE, ImageFiles, ImageSource, RetrievalDataset
from qshift.tasks import ComposedQuery
from qshift.utils.cir_layout import REFERENCE_PATH, CirLayout, QueryEntry, relative_inside

#: the task of every CIR dataset
TASK = "cir"
#: spec prefix → module holding that format's ``load_spec`` and ``layout_spec``
FORMATS = {"fashioniq": "qshift.data.fashioniq", "cirr": "qshift.data.cirr", "circo": "qshift.data.circo"}


class ComposedItems:
    """Composed queries: reference image ``i`` (read on access) with modification text ``i``."""

    def __init__(self, references: ImageSource, texts: Sequence[str]):
        if len(references) != len(texts):
            raise ValueError(f"{len(references)} reference images for {len(texts)} modification texts")
        self.references = references
        self.texts = list(texts)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> ComposedQuery:
        return ComposedQuery(self.references[index], self.texts[index])


def entry_value(entry: Any, path: Path, index: int, field: str, kind: type | tuple[type, ...]) -> Any:
    """Field ``field`` of annotation entry ``index``, of type ``kind``; errors name file, entry, field."""
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: entry {index} is not a JSON object")
    if field not in entry:
        raise ValueError(f"{path}: entry {index} has no field {field!r}")
    value = entry[field]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ValueError(f"{path}: entry {index} field {field!r} must be a {names}, got {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{path}: entry {index} field {field!r} is empty")
    return value


def reference_override(entry: dict[str, Any], path: Path, index: int) -> str | None:
    """The entry's own reference image (a shifted copy's :data:`REFERENCE_PATH`), or None."""
    if REFERENCE_PATH not in entry:
        return None
    value = entry_value(entry, path, index, REFERENCE_PATH, str)
    return relative_inside(value, f"{path}: entry {index} field {REFERENCE_PATH!r}")


def gallery_index(
    name: Any, index_of: dict[Any, int], path: Path, entry: int, field: str, gallery_file: Path
) -> int:
    """Gallery position of image ``name``; ValueError naming the entry, field and gallery file."""
    if name not in index_of:
        raise ValueError(f"{path}: entry {entry} field {field!r}: image {name!r} is not in {gallery_file}")
    return index_of[name]


def resolve_split(spec_split: str | None, option: str | None, default: str, spec: str) -> str:
    """The split of a spec: named in the spec or by the ``split`` option (both: they must agree)."""
    if spec_split and option and spec_split != option:
        raise ValueError(f"dataset spec {spec!r} names split {spec_split!r} but split={option!r} was asked")
    return spec_split or option or default


def spec_fields(spec: str, kind: str, usage: str, most: int) -> list[str]:
    """The non-empty colon-separated fields after ``<kind>:`` (1 to ``most`` of them)."""
    head, _, rest = spec.partition(":")
    fields = rest.split(":") if rest else []
    if head != kind or not 1 <= len(fields) <= most or not all(fields):
        raise ValueError(f"bad dataset spec {spec!r}: expected {usage}")
    return fields


def check_root(root: str | Path) -> Path:
    """``root`` as a Path, which must be an existing directory."""
    path = Path(root)
    if not path.is_dir():
        raise FileNotFoundError(f"dataset root directory not found: {path}")
    return path


def root_and_split(
    spec: str, kind: str, usage: str, default_split: str, split: str | None
) -> tuple[Path, str]:
    """``<kind>:<root>[:<split>]`` → the existing root directory and the split (spec or option)."""
    fields = spec_fields(spec, kind, usage, 2)
    root = check_root(fields[0])
    return root, resolve_split(fields[1] if len(fields) > 1 else None, split, default_split, spec)


def one_file_layout(
    family: str,
    root: Path,
    text_field: str,
    relative_file: str,
    references: Sequence[str],
    texts: Sequence[str],
) -> CirLayout:
    """The layout of a split whose queries are the entries of one annotation file, in order, with
    the modification text a string."""
    queries = tuple(
        QueryEntry(relative_file, index, reference, text)
        for index, (reference, text) in enumerate(zip(references, texts, strict=True))
    )
    return CirLayout(family, root, text_field, False, queries)


def cir_dataset(
    name: str,
    root: Path,
    gallery: Sequence[str],
    references: Sequence[str],
    texts: Sequence[str],
    query_groups: np.ndarray | list[np.ndarray],
    *,
    excluded: list[np.ndarray] | None = None,
    subsets: list[np.ndarray] | None = None,
    metrics: Sequence[str] = (),
) -> RetrievalDataset:
    """A ``cir`` dataset: composed queries against the gallery images (paths relative to ``root``)."""
    return RetrievalDataset(
        name,
        temperature=DEFAULT_TEMPERATURE,
        items={
            "image+text": ComposedItems(ImageFiles(root, references), texts),
            "image": ImageFiles(root, gallery),
        },
        groups={"image+text": query_groups, "image": np.arange(len(gallery))},
        excluded={TASK: excluded} if excluded is not None else None,
        subsets={TASK: subsets} if subsets is not None else None,
        metrics=metrics,
    )


def composed_layout(spec: str, **options: Any) -> CirLayout:
    """Where the queries of the CIR dataset ``spec`` sit on disk (for ``qshift shift cir``)."""
    kind = spec.partition(":")[0]
    if kind not in FORMATS:
        raise ValueError(
            f"not a composed image retrieval spec: {spec!r} (expected {', '.join(k + ':' for k in FORMATS)})"
        )
    return importlib.import_module(FORMATS[kind]).layout_spec(spec, **options)
