"""Tiny FashionIQ, CIRR and CIRCO datasets written in their public layouts (benchmark.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

FIQ_SIZES = {"dress": 5, "shirt": 6, "toptee": 4}


def write_image(path: Path, seed: int, suffix: str = ".png") -> None:
    """A random RGB image (18-30 px a side) at ``path`` with ``suffix``."""
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(18, 31, size=2))
    path = path.with_suffix(suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)).save(path)


def write_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def write_fashioniq(
    root: Path, sizes: dict[str, int] = FIQ_SIZES, split: str = "val", images: bool = True, seed: int = 0
) -> Path:
    """Per category ``n`` gallery images and ``n`` queries: query i edits image i into image i+1 (mod n).

    The first dress image is a JPEG (the loader falls back to ``.jpg``).
    """
    rng = np.random.default_rng(seed)
    for category, count in sizes.items():
        names = [f"{split}-{category}{i}" for i in range(count)]
        if images:
            for i, name in enumerate(names):
                suffix = ".jpg" if (category, i) == ("dress", 0) else ".png"
                write_image(root / "images" / name, seed=int(rng.integers(1 << 30)), suffix=suffix)
        write_json(root / "image_splits" / f"split.{category}.{split}.json", names)
        captions = [
            {
                "candidate": names[i],
                "target": names[int(rng.integers(count))] if not images else names[(i + 1) % count],
                "captions": [f"is more {category} like {i}.", f"has a pattern {i}"],
            }
            for i in range(count)
        ]
        write_json(root / "captions" / f"cap.{category}.{split}.json", captions)
    return root


def write_cirr(
    root: Path,
    images: int = 10,
    queries: int = 8,
    split: str = "val",
    *,
    img_raw: bool = False,
    nested: bool = False,
    write_images: bool = True,
    seed: int = 0,
) -> Path:
    """A CIRR split: ``images`` gallery images under ``dev/`` (or ``img_raw/dev/``), ``queries`` queries.

    Query i: reference image i, target a different image, ``img_set`` of 6 members holding both.
    ``nested`` puts the annotation folders under ``<root>/cirr/`` as the CIRR repository does.
    """
    rng = np.random.default_rng(seed)
    names = [f"dev-{i}-0-img{i % 2}" for i in range(images)]
    mapping = {name: f"./dev/{name}.png" for name in names}
    if write_images:
        for i, name in enumerate(names):
            write_image(root / ("img_raw" if img_raw else "") / "dev" / name, seed=seed * 1000 + i)
    entries = []
    for i in range(queries):
        reference = i % images
        others = [j for j in rng.permutation(images).tolist() if j != reference]
        target = others[0]
        members = [names[reference], names[target], *(names[j] for j in others[1:5])]
        rng.shuffle(members)
        entries.append(
            {
                "pairid": i,
                "reference": names[reference],
                "target_hard": names[target],
                "target_soft": {names[target]: 1.0},
                "caption": f"make it look like scene {target} instead {i}",
                "img_set": {"id": i, "members": members},
            }
        )
    base = root / "cirr" if nested else root
    write_json(base / "captions" / f"cap.rc2.{split}.json", entries)
    write_json(base / "image_splits" / f"split.rc2.{split}.json", mapping)
    return root


def write_circo(
    root: Path,
    images: int = 12,
    queries: int = 6,
    split: str = "val",
    write_images: bool = True,
    seed: int = 0,
) -> Path:
    """A CIRCO split over ``images`` unlabeled COCO images; query i has 1-4 ground truths."""
    rng = np.random.default_rng(seed)
    ids = sorted(rng.choice(600_000, size=images, replace=False).tolist())
    info = {"info": {}, "images": [{"id": i, "file_name": f"{i:012d}.jpg", "width": 20} for i in ids]}
    write_json(root / "COCO2017_unlabeled" / "annotations" / "image_info_unlabeled2017.json", info)
    if write_images:
        for k, image_id in enumerate(ids):
            folder = root / "COCO2017_unlabeled" / "unlabeled2017"
            write_image(folder / f"{image_id:012d}", seed=seed * 1000 + k, suffix=".jpg")
    entries = []
    for q in range(queries):
        reference = ids[q % images]
        others = [i for i in rng.permutation(ids).tolist() if i != reference]
        truths = others[: int(rng.integers(1, 5))]
        entries.append(
            {
                "reference_img_id": reference,
                "target_img_id": truths[0],
                "relative_caption": f"has {q} more things",
                "shared_concept": "a thing",
                "gt_img_ids": truths,
                "id": q,
                "semantic_aspects": ["addition"],
            }
        )
    write_json(root / "annotations" / f"{split}.json", entries)
    return root
