"""Retrieval datasets; :func:`load_dataset` picks the registered loader from the spec's prefix."""

from __future__ import annotations

from typing import Any

from qshift import registry
from qshift.data.base import DEFAULT_TEMPERATURE, GeneratedImages, ImageFiles, ImageSource, RetrievalDataset
from qshift.data.captions import normalize_caption
from qshift.data.karpathy import resolve_karpathy_spec


def load_dataset(spec: str, **options: Any) -> RetrievalDataset:
    """Load the dataset named by ``spec``; its prefix picks the registered loader.

    ``options`` go to the loader. The dataset's ``name`` is the spec unless ``name=`` is given.
    """
    kind = spec.partition(":")[0]
    if kind not in registry.names("dataset"):
        forms = ", ".join(e.form or e.name for e in registry.entries("dataset"))
        raise ValueError(f"unknown dataset spec {spec!r}; expected one of: {forms}")
    return registry.load("dataset", kind)(spec, **options)


def __getattr__(name: str) -> dict[str, str]:
    """``DATASETS``: spec form → one-line doc, read from the registry."""
    if name == "DATASETS":
        return {e.form or e.name: e.doc for e in registry.entries("dataset")}
    raise AttributeError(f"module 'qshift.data' has no attribute {name!r}")


__all__ = [
    "DATASETS",
    "DEFAULT_TEMPERATURE",
    "GeneratedImages",
    "ImageFiles",
    "ImageSource",
    "RetrievalDataset",
    "load_dataset",
    "normalize_caption",
    "resolve_karpathy_spec",
]
