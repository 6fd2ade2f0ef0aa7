"""Query-gallery-shift datasets (benchmark.md "QGS"): NoCaps, Fashion-Gen, CUHK-/ICFG-PEDES.

Specs (see :func:`qshift.data.load_dataset`; paths must not contain ``:``):

- ``nocaps:<annotations.json>:<image_root>[:in|near|out|entire]``: a JSON list of
  ``{"image", "caption": [...], "domain"}`` with domain ``in-domain``/``near-domain``/
  ``out-domain``; the optional last part keeps one domain (default ``entire``: all). One-to-many
  like COCO; every caption is kept (pass ``max_captions=5`` to keep five), BLIP-normalised.
- ``fashiongen:<annotation.json>:<image_root>``: a JSON list of ``{"img_name", "caption"}``
  (``"image"`` / ``"captions"`` accepted too). The product id is the part of the file name
  (without folders) before the first ``_``; an image and a caption are relevant when they
  belong to the same product (many-to-many). Images are unique by name; every caption of every
  entry is kept, BLIP-normalised. Baseline temperature 0.001.
- ``cuhk-pedes:<json>:<image_root>`` / ``icfg-pedes:<json>:<image_root>``: the PEDES JSON list
  of ``{"split", "id", "file_path", "captions"}``; only ``split == "test"`` entries are kept;
  relevance by person id (many-to-many). Captions are kept verbatim (stripped), as the ReID
  models tokenise raw text. Baseline temperature 1e-4.

Temperatures follow the paper's code (method.md §3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qshift.data.base import DEFAULT_TEMPERATURE, ImageFiles, RetrievalDataset
from qshift.data.captions import normalize_caption
from qshift.data.karpathy import MAX_WORDS, check_image_root, one_to_many, spec_parts
from qshift.utils.annotations import entry_captions, entry_field, entry_text, read_json_list

#: spec suffix -> NoCaps ``domain`` value
NOCAPS_DOMAINS = {"in": "in-domain", "near": "near-domain", "out": "out-domain"}
FASHIONGEN_TEMPERATURE = 1e-3
PEDES_TEMPERATURE = 1e-4
PEDES_KINDS = ("cuhk-pedes", "icfg-pedes")


def load_nocaps(
    annotation: str | Path,
    image_root: str | Path,
    domain: str = "entire",
    name: str | None = None,
    max_captions: int | None = None,
    max_words: int | None = MAX_WORDS,
) -> RetrievalDataset:
    """Load NoCaps, optionally one domain (``in``, ``near``, ``out`` or ``entire``)."""
    if domain != "entire" and domain not in NOCAPS_DOMAINS:
        raise ValueError(f"NoCaps domain must be one of in, near, out, entire; got {domain!r}")
    path = Path(annotation)
    entries = read_json_list(path)
    root = check_image_root(image_root)
    known = set(NOCAPS_DOMAINS.values())
    captions_by_image: dict[str, list[str]] = {}
    for index, entry in enumerate(entries):
        entry_domain = entry_field(entry, path, index, "domain")
        if entry_domain not in known:
            raise ValueError(f"{path}: entry {index} field 'domain' must be one of {sorted(known)}")
        image = entry_text(entry, path, index, "image")
        captions = entry_captions(entry, path, index, "caption")
        if domain == "entire" or entry_domain == NOCAPS_DOMAINS[domain]:
            captions_by_image.setdefault(image, []).extend(captions)
    if not captions_by_image:
        raise ValueError(f"{path}: no entries of domain {NOCAPS_DOMAINS[domain]!r}")
    images, texts, text_groups = one_to_many(captions_by_image, max_captions, max_words)
    return RetrievalDataset(
        name=name or f"nocaps-{domain}",
        images=ImageFiles(root, images),
        texts=texts,
        image_groups=np.arange(len(images)),
        text_groups=text_groups,
        temperature=DEFAULT_TEMPERATURE,
    )


def fashiongen_product(image_name: str) -> str:
    """Product id of a Fashion-Gen image: its file name up to the first ``_``."""
    return Path(image_name).name.split("_")[0]


def load_fashiongen(
    annotation: str | Path, image_root: str | Path, name: str | None = None, max_words: int | None = MAX_WORDS
) -> RetrievalDataset:
    """Load Fashion-Gen with many-to-many relevance within a product."""
    path = Path(annotation)
    entries = read_json_list(path)
    root = check_image_root(image_root)
    products: dict[str, int] = {}
    image_group: dict[str, int] = {}
    texts: list[str] = []
    text_groups: list[int] = []
    for index, entry in enumerate(entries):
        image = entry_text(entry, path, index, "img_name", "image")
        captions = entry_captions(entry, path, index, "caption", "captions")
        group = products.setdefault(fashiongen_product(image), len(products))
        image_group.setdefault(image, group)
        texts += [normalize_caption(c, max_words) for c in captions]
        text_groups += [group] * len(captions)
    return RetrievalDataset(
        name=name or "fashiongen",
        images=ImageFiles(root, list(image_group)),
        texts=texts,
        image_groups=np.asarray(list(image_group.values())),
        text_groups=np.asarray(text_groups),
        temperature=FASHIONGEN_TEMPERATURE,
    )


def _person_id(entry: Any, path: Path, index: int) -> int | str:
    """The ``id`` of a PEDES entry (an integer or a string)."""
    value = entry_field(entry, path, index, "id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{path}: entry {index} field 'id' must be an integer or a string")
    return value


def load_pedes(
    annotation: str | Path, image_root: str | Path, name: str | None = None, split: str = "test"
) -> RetrievalDataset:
    """Load CUHK-PEDES / ICFG-PEDES entries of ``split`` with person-id relevance."""
    path = Path(annotation)
    entries = read_json_list(path)
    root = check_image_root(image_root)
    persons: dict[int | str, int] = {}
    images: list[str] = []
    image_groups: list[int] = []
    texts: list[str] = []
    text_groups: list[int] = []
    for index, entry in enumerate(entries):
        if entry_field(entry, path, index, "split") != split:
            continue
        group = persons.setdefault(_person_id(entry, path, index), len(persons))
        images.append(entry_text(entry, path, index, "file_path"))
        image_groups.append(group)
        captions = entry_captions(entry, path, index, "captions")
        texts += [c.strip() for c in captions]
        text_groups += [group] * len(captions)
    if not images:
        raise ValueError(f"{path}: no entries with split {split!r}")
    return RetrievalDataset(
        name=name or path.stem,
        images=ImageFiles(root, images),
        texts=texts,
        image_groups=np.asarray(image_groups),
        text_groups=np.asarray(text_groups),
        temperature=PEDES_TEMPERATURE,
    )


def load_qgs_spec(spec: str, **options: Any) -> RetrievalDataset:
    """Load a ``nocaps:``, ``fashiongen:``, ``cuhk-pedes:`` or ``icfg-pedes:`` spec."""
    kind = spec.partition(":")[0]
    options.setdefault("name", spec)
    if kind == "nocaps":
        usage = "nocaps:<annotations.json>:<image_root>[:in|near|out|entire]"
        parts = spec_parts(spec, kind, usage, 2, optional=1)
        if len(parts) == 3:
            options["domain"] = parts[2]
        return load_nocaps(parts[0], parts[1], **options)
    if kind == "fashiongen":
        annotation, root = spec_parts(spec, kind, "fashiongen:<annotation.json>:<image_root>", 2)
        return load_fashiongen(annotation, root, **options)
    if kind in PEDES_KINDS:
        annotation, root = spec_parts(spec, kind, f"{kind}:<annotation.json>:<image_root>", 2)
        return load_pedes(annotation, root, **options)
    raise ValueError(f"not a QGS dataset spec: {spec!r}")
