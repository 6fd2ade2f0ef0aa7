"""COCO and Flickr30K Karpathy test splits in BLIP's JSON format, and corrupted copies of them.

Specs (see :func:`qshift.data.load_dataset`):

- ``karpathy:<annotation.json>:<image_root>``: a JSON list of ``{"image": <path relative to
  image_root>, "caption": [str, ...]}`` (``caption`` may be a single string);
- ``coco:<root>`` / ``flickr:<root>``: the annotation ``coco_karpathy_test.json`` /
  ``flickr30k_test.json`` is looked up at ``<root>/`` then ``<root>/annotation/`` (the first that
  exists); images are read from ``<root>/images`` if that folder exists, else from ``<root>``.

Corrupted copies written by ``qshift shift`` use the same schema and relative paths, so they are
read with the plain ``karpathy:`` spec, e.g.

- corrupted query images, clean captions:
  ``karpathy:/data/coco/annotation/coco_karpathy_test.json:<out>/COCO_IP_gaussian_noise_5``
- perturbed query captions, clean images:
  ``karpathy:<out>/annotation_SR/5/coco_karpathy_test.json:/data/coco/images``

Paths inside a spec must not contain ``:``. Each image keeps its first 5 captions, normalised
as BLIP does (:func:`qshift.data.captions.normalize_caption`); image ``i`` is relevant to its
own captions only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qshift.data.base import DEFAULT_TEMPERATURE, ImageFiles, RetrievalDataset, owned_texts
from qshift.data.captions import normalize_caption
from qshift.utils.annotations import entry_captions, entry_text, read_json_list

COCO_ANNOTATION = "coco_karpathy_test.json"
FLICKR_ANNOTATION = "flickr30k_test.json"
#: annotation file name of each shorthand spec kind
SHORTHAND_ANNOTATIONS = {"coco": COCO_ANNOTATION, "flickr": FLICKR_ANNOTATION}
#: captions kept per image (benchmark.md: COCO 25,000 texts, Flickr 5,000)
CAPTIONS_PER_IMAGE = 5
#: words kept per caption (BLIP's retrieval ``max_words``)
MAX_WORDS = 30


# -- spec helpers shared by the loaders in this package --------------------------------------
def spec_parts(spec: str, kind: str, usage: str, count: int, optional: int = 0) -> list[str]:
    """Split ``<kind>:a:b...`` into its ``count`` (plus up to ``optional``) non-empty parts.

    Raises ValueError naming the spec and the expected ``usage`` when the shape is wrong.
    """
    head, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if head != kind or not count <= len(parts) <= count + optional or not all(parts):
        raise ValueError(f"bad dataset spec {spec!r}: expected {usage}")
    return parts


def check_image_root(image_root: str | Path) -> Path:
    """``image_root`` as a Path, which must be an existing directory."""
    root = Path(image_root)
    if not root.is_dir():
        raise FileNotFoundError(f"image root directory not found: {root}")
    return root


# -- Karpathy format --------------------------------------------------------------------------
def _shorthand_paths(kind: str, root: Path) -> tuple[Path, Path]:
    """Annotation and image root of a ``coco:<root>`` / ``flickr:<root>`` spec."""
    name = SHORTHAND_ANNOTATIONS[kind]
    candidates = [root / name, root / "annotation" / name]
    annotation = next((c for c in candidates if c.is_file()), None)
    if annotation is None:
        raise FileNotFoundError(f"{kind} annotation not found: tried {candidates[0]} and {candidates[1]}")
    images = root / "images"
    return annotation, images if images.is_dir() else root


def resolve_karpathy_spec(spec: str) -> tuple[Path, Path]:
    """(annotation json, image root) of a ``karpathy:``, ``coco:`` or ``flickr:`` spec.

    Raises FileNotFoundError when the annotation file or the image root does not exist.
    """
    kind = spec.partition(":")[0]
    if kind in SHORTHAND_ANNOTATIONS:
        (root,) = spec_parts(spec, kind, f"{kind}:<root>", 1)
        annotation, image_root = _shorthand_paths(kind, Path(root))
    elif kind == "karpathy":
        json_path, root = spec_parts(spec, kind, "karpathy:<annotation.json>:<image_root>", 2)
        annotation, image_root = Path(json_path), Path(root)
        if not annotation.is_file():
            raise FileNotFoundError(f"annotation file not found: {annotation}")
    else:
        raise ValueError(f"not a Karpathy-format spec: {spec!r} (expected karpathy:, coco: or flickr:)")
    return annotation, check_image_root(image_root)


def one_to_many(
    captions_by_image: dict[str, list[str]], max_captions: int | None, max_words: int | None
) -> tuple[list[str], list[str], np.ndarray]:
    """(image paths, texts, text groups) where image ``i`` owns its first ``max_captions`` captions."""
    texts, text_groups = owned_texts(list(captions_by_image.values()), max_captions)
    return list(captions_by_image), [normalize_caption(c, max_words) for c in texts], text_groups


def load_karpathy(
    annotation: str | Path,
    image_root: str | Path,
    name: str | None = None,
    max_captions: int | None = CAPTIONS_PER_IMAGE,
    max_words: int | None = MAX_WORDS,
) -> RetrievalDataset:
    """Load a BLIP-format Karpathy split: image ``i`` is relevant to its own captions.

    Entries naming the same image are merged; each image keeps its first ``max_captions``
    captions (``None``: all), normalised with ``max_words``.
    """
    path = Path(annotation)
    entries = read_json_list(path)
    root = check_image_root(image_root)
    captions_by_image: dict[str, list[str]] = {}
    for index, entry in enumerate(entries):
        image = entry_text(entry, path, index, "image")
        captions_by_image.setdefault(image, []).extend(entry_captions(entry, path, index, "caption"))
    images, texts, text_groups = one_to_many(captions_by_image, max_captions, max_words)
    return RetrievalDataset(
        name=name or path.stem,
        images=ImageFiles(root, images),
        texts=texts,
        image_groups=np.arange(len(images)),
        text_groups=text_groups,
        temperature=DEFAULT_TEMPERATURE,
    )


def load_karpathy_spec(spec: str, **options: Any) -> RetrievalDataset:
    """Load a ``karpathy:``, ``coco:`` or ``flickr:`` spec (options go to :func:`load_karpathy`)."""
    annotation, image_root = resolve_karpathy_spec(spec)
    options.setdefault("name", spec)
    return load_karpathy(annotation, image_root, **options)
