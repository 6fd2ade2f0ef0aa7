"""``qshift shift images``: every source image corrupted once per (corruption, severity).

Layout: ``<out>/<Prefix>_IP_<corruption>_<severity>/<same relative path as in the annotation>``.
Images keep their file extension, so the annotation's relative paths stay valid for the copies.
JPEG files are therefore re-encoded, at quality 95 (the public COCO-C generator's setting,
MM_Robustness's ``cv2.imwrite`` default) but with 4:4:4 chroma, i.e. no chroma subsampling. The
re-encoding is itself a small lossy shift on top of the corruption, and 4:2:0 subsampling would
make it a large one: it averages colour over 2×2 pixels and so removes most of the per-channel
noise of the noise corruptions. Measured on a 384×512 synthetic image, the mean absolute error
of the stored file to the intended corrupted pixels was 46 at 4:2:0 for gaussian_noise@5 (whose
own distance to the clean image is 62); at 4:4:4 it is about 3 for the noise corruptions and
below 1 for the others. PNG (and BMP, TIFF, lossless WebP) outputs are lossless. Images are
decoded as RGB without EXIF rotation, the way the loaders read them, so grey or RGBA sources
become RGB files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

import qshift.shifts
from qshift.shifts.export.annotation import read_entries
from qshift.shifts.export.kinds import (
    ExportKind,
    check_run_args,
    parse_severities,
    parse_shifts,
    register_kind,
)
from qshift.shifts.export.manifest import Manifest
from qshift.shifts.export.runs import Outputs, begin_run, execute
from qshift.shifts.export.workers import chunk_size, one_opencv_thread
from qshift.utils.io import write_atomic
from qshift.utils.seeds import item_seed

IMAGE_SEVERITIES = (1, 2, 3, 4, 5)
JPEG_QUALITY = 95
#: output encoder (Pillow format, options) per source extension
IMAGE_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".jpg": ("JPEG", {"quality": JPEG_QUALITY, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": JPEG_QUALITY, "subsampling": 0}),
    ".png": ("PNG", {}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
    ".webp": ("WEBP", {"lossless": True}),
}
#: images per job: small, as one source image is written once per (shift, severity)
_CHUNK_CAP = 8

register_kind(ExportKind("image", IMAGE_SEVERITIES))


def dataset_prefix(annotation: str | Path) -> str:
    """Folder prefix for image copies: COCO, Flickr, or the annotation file's stem."""
    path = Path(annotation)
    name = path.name.lower()
    if name.startswith("coco"):
        return "COCO"
    if name.startswith("flickr"):
        return "Flickr"
    return path.stem


def image_folder(prefix: str, shift: str, severity: int) -> str:
    """Name of the folder holding the images corrupted by ``shift`` at ``severity``."""
    return f"{prefix}_IP_{shift}_{severity}"


def build_images(
    annotation: str | Path,
    image_root: str | Path,
    out: str | Path,
    shifts: str | Sequence[str] | None = None,
    severities: str | Sequence[int] | None = None,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    *,
    progress: bool = True,
) -> Manifest:
    """Write corrupted copies of the annotation's images (first ``limit`` entries) under ``out``.

    Image ``i`` (in order of first appearance in the annotation, as the loaders number them) is
    corrupted with :func:`qshift.utils.seeds.item_seed` ``(seed, i, shift, severity)``. With
    ``workers > 1`` the work runs in "spawn" processes, so a script calling this must guard its
    entry point with ``if __name__ == "__main__":`` (as for any spawn pool).
    """
    annotation, image_root, out = Path(annotation), Path(image_root), Path(out)
    shift_names = parse_shifts(shifts, "image")
    levels = parse_severities(severities, "image")
    check_run_args(seed, workers, limit)
    entries = read_entries(annotation, limit)
    if not image_root.is_dir():
        raise FileNotFoundError(f"image root not found: {image_root}")
    paths = _image_paths(entries, annotation, image_root)
    prefix = dataset_prefix(annotation)
    pairs = tuple((s, v) for s in shift_names for v in levels)
    folders = {image_folder(prefix, s, v): {"shift": s, "severity": v, "items": len(paths)} for s, v in pairs}
    settings = {
        "seed": seed,
        "image_root": str(image_root.resolve()),
        "shifts": shift_names,
        "severities": levels,
        "limit": limit,
        "workers": workers,
    }
    run = begin_run(out, "image", annotation, folders, settings)
    items = list(enumerate(paths))
    size = chunk_size(len(items), workers, cap=_CHUNK_CAP)
    jobs = [
        _ImageJob(str(image_root), str(out), prefix, seed, pairs, tuple(items[i : i + size]))
        for i in range(0, len(items), size)
    ]
    bar = tqdm(total=len(items) * len(pairs), unit="file", disable=not progress, desc="qshift shift images")
    return execute(run, _corrupt_images, jobs, workers, bar, _outputs, setup=one_opencv_thread)


def _image_paths(entries: list[dict[str, Any]], annotation: Path, image_root: Path) -> list[str]:
    """Unique relative image paths in annotation order, checked to exist and to stay inside the root."""
    paths = list(dict.fromkeys(entry["image"] for entry in entries))
    for rel in paths:
        parts = PurePosixPath(rel.replace("\\", "/"))
        if parts.is_absolute() or ".." in parts.parts or not parts.parts:
            raise ValueError(
                f"annotation {annotation}: image path {rel!r} must be relative and inside the root"
            )
        if Path(rel).suffix.lower() not in IMAGE_FORMATS:
            raise ValueError(
                f"annotation {annotation}: image {rel!r} has an unsupported extension; "
                f"supported: {', '.join(IMAGE_FORMATS)}"
            )
    missing = [rel for rel in paths if not (image_root / rel).is_file()]
    if missing:
        shown = ", ".join(str(image_root / rel) for rel in missing[:3])
        raise FileNotFoundError(f"{len(missing)} image file(s) not found under {image_root}: {shown}")
    return paths


@dataclass(frozen=True)
class _ImageJob:
    """A chunk of (index, relative path) source images, each written for every (shift, severity)."""

    root: str
    out: str
    prefix: str
    seed: int
    pairs: tuple[tuple[str, int], ...]
    items: tuple[tuple[int, str], ...]


def _corrupt_images(job: _ImageJob) -> list[tuple[str, bool]]:
    """Write the missing outputs of a chunk, decoding each source once; report (folder, written?)."""
    results: list[tuple[str, bool]] = []
    for index, rel in job.items:
        pixels: np.ndarray | None = None
        for shift, severity in job.pairs:
            folder = image_folder(job.prefix, shift, severity)
            dest = Path(job.out) / folder / rel
            written = not dest.is_file()
            if written:
                pixels = _load_rgb(Path(job.root) / rel) if pixels is None else pixels
                seed = item_seed(job.seed, index, shift, severity)
                _save_image(dest, qshift.shifts.apply(shift, pixels, severity, seed))
            results.append((folder, written))
    return results


def _load_rgb(path: Path) -> np.ndarray:
    """An image file as H×W×3 uint8 RGB (no EXIF rotation, like the dataset loaders)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"unreadable image file: {path} ({err})") from err


def _save_image(dest: Path, pixels: np.ndarray) -> None:
    """Write ``pixels`` atomically in the format of ``dest``'s extension."""
    fmt, options = IMAGE_FORMATS[dest.suffix.lower()]
    write_atomic(dest, lambda tmp: Image.fromarray(pixels).save(tmp, format=fmt, **options))


def _outputs(result: list[tuple[str, bool]]) -> Outputs:
    """An image job's outputs, one progress unit each."""
    return result, len(result)
