"""Retrieval datasets; :func:`load_dataset` picks the loader from the spec's prefix."""

from __future__ import annotations

from typing import Any

from qshift.data.base import DEFAULT_TEMPERATURE, GeneratedImages, ImageFiles, ImageSource, RetrievalDataset
from qshift.data.captions import normalize_caption
from qshift.data.karpathy import load_karpathy_spec, resolve_karpathy_spec
from qshift.data.qgs import PEDES_KINDS, load_qgs_spec

#: spec forms, one line each (for ``qshift list``)
DATASETS: dict[str, str] = {
    "scenes[:<split>]": "built-in procedural captioned scenes (splits train/val/test; default test)",
    "coco:<root>": "COCO Karpathy test (coco_karpathy_test.json in <root> or <root>/annotation)",
    "flickr:<root>": "Flickr30K Karpathy test (flickr30k_test.json in <root> or <root>/annotation)",
    "karpathy:<json>:<image_root>": "any BLIP-format Karpathy annotation, e.g. a corrupted copy",
    "nocaps:<json>:<image_root>[:in|near|out|entire]": "NoCaps, one domain or all",
    "fashiongen:<json>:<image_root>": "Fashion-Gen, relevance within a product",
    "cuhk-pedes:<json>:<image_root>": "CUHK-PEDES test split, relevance by person id",
    "icfg-pedes:<json>:<image_root>": "ICFG-PEDES test split, relevance by person id",
}

_KARPATHY_KINDS = ("karpathy", "coco", "flickr")
_QGS_KINDS = ("nocaps", "fashiongen", *PEDES_KINDS)


def load_dataset(spec: str, **options: Any) -> RetrievalDataset:
    """Load the dataset named by ``spec`` (see :data:`DATASETS`); ``options`` go to its loader.

    The dataset's ``name`` is the spec unless ``name=`` is given.
    """
    kind, _, rest = spec.partition(":")
    if kind == "scenes":
        from qshift.data.scenes import load_scenes_dataset

        if rest:
            options["split"] = rest
        return load_scenes_dataset(**options)
    if kind in _KARPATHY_KINDS:
        return load_karpathy_spec(spec, **options)
    if kind in _QGS_KINDS:
        return load_qgs_spec(spec, **options)
    raise ValueError(f"unknown dataset spec {spec!r}; expected one of: {', '.join(DATASETS)}")


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
