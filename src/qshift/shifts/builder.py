"""Corrupted copies of a Karpathy-format dataset on disk: the COCO-C / Flickr-C layout.

``qshift shift images`` writes every source image once per (corruption, severity)::

    <out>/<Prefix>_IP_<corruption>_<severity>/<same relative path as in the annotation>

``Prefix`` is ``COCO`` for annotation files whose name starts with "coco", ``Flickr`` for
"flickr", else the annotation file's stem. ``qshift shift texts`` writes one annotation file per
(perturbation, level)::

    <out>/annotation_<perturbation>/<L>/<annotation file name>

with the same JSON schema. Only the first 5 captions of an entry are perturbed and the others are
**dropped**, so every caption in the output is a shifted query whichever loader reads it (the public
release kept captions 6+ unchanged; qshift's loader keeps the first 5 anyway). A caption given as a
single string stays a string. Sentence-level shifts have no severity: they are written to level 1,
as in the public release. Both outputs load with the plain Karpathy spec, e.g.
``karpathy:<out>/annotation_ocr/5/coco_karpathy_test.json:<image_root>`` or
``karpathy:<annotation>:<out>/COCO_IP_fog_5``.

Images keep their file extension, so the annotation's relative paths stay valid for the copies.
JPEG files are therefore re-encoded, at quality 95 (the public COCO-C generator's setting,
MM_Robustness's ``cv2.imwrite`` default) but with 4:4:4 chroma, i.e. no chroma subsampling. The
re-encoding is itself a small lossy shift on top of the corruption, and 4:2:0 subsampling would
make it a large one: it averages colour over 2×2 pixels and so removes most of the per-channel
noise of the noise corruptions. Measured on a 384×512 synthetic image, the mean absolute error of
the stored file to the intended corrupted pixels was 46 at 4:2:0 for gaussian_noise@5 (whose own
distance to the clean image is 62); at 4:4:4 it is about 3 for the noise corruptions and below 1
for the others. PNG (and BMP, TIFF, lossless WebP) outputs are lossless. Images are decoded as RGB
without EXIF rotation, the way the loaders read them, so grey or RGBA sources become RGB files.

Every output depends only on (seed, shift, severity, item index) through
:func:`item_seed`, never on worker count or order. Runs are resumable: finished files are skipped,
each file is written to a hidden temporary name in its own folder and moved into place with
``os.replace``, and stray temporaries of a killed run are deleted at the next start. Run one
build per output folder at a time (a second concurrent run would delete the first one's
temporaries). ``<out>/manifest.json`` records each run (versions, seed, source annotation and its
sha256, shifts, severities, counts, timestamps) and each output folder; adding to a folder built
with another seed, from another annotation or (word level) with another semantic filter is refused
rather than silently mixing two recipes.
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import json
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

import qshift
from qshift import shifts as registry

__all__ = [
    "IMAGE_SEVERITIES",
    "JPEG_QUALITY",
    "MAX_CAPTIONS",
    "SENTENCE_LEVEL",
    "TEXT_LEVELS",
    "Manifest",
    "build_images",
    "build_texts",
    "dataset_prefix",
    "image_folder",
    "item_seed",
    "parse_severities",
    "parse_shifts",
    "text_folder",
]

IMAGE_SEVERITIES = (1, 2, 3, 4, 5)
TEXT_LEVELS = (1, 2, 3, 4, 5, 6, 7)
#: the one level sentence-level shifts (which have no severity) are written to
SENTENCE_LEVEL = 1
#: captions perturbed per entry; later ones are dropped
MAX_CAPTIONS = 5
JPEG_QUALITY = 95
MANIFEST_NAME = "manifest.json"
TMP_SUFFIX = ".qshift-tmp"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
TEXT_GROUPS = ("paper", "char", "word", "sentence")
#: folder-record fields that must match for a run to add files to an existing folder
RECIPE_KEYS = ("seed", "annotation_sha256", "min_cosine")

#: output encoder (Pillow format, options) per source extension
_IMAGE_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".jpg": ("JPEG", {"quality": JPEG_QUALITY, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": JPEG_QUALITY, "subsampling": 0}),
    ".png": ("PNG", {}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
    ".webp": ("WEBP", {"lossless": True}),
}


# ----------------------------------------------------------------------------- names and seeds


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


def text_folder(shift: str, level: int) -> str:
    """Relative folder (``annotation_<shift>/<L>``) of the annotation perturbed by ``shift``."""
    return f"annotation_{shift}/{level}"


def item_seed(seed: int, shift: str, severity: int, index: int) -> int:
    """Seed of one output item, a function of (seed, shift, severity, item index) only."""
    name_code = int.from_bytes(hashlib.sha256(shift.encode()).digest()[:8], "little")
    state = np.random.SeedSequence([seed, name_code, severity, index]).generate_state(1, np.uint64)
    return int(state[0])


# ----------------------------------------------------------------------------- argument parsing


def parse_shifts(spec: str | Sequence[str] | None, kind: str) -> list[str]:
    """Shift names from ``a,b,...`` or ``all`` (None: all); texts also take paper, char, word, sentence."""
    valid = registry.names(kind)  # type: ignore[arg-type]
    if spec is None:
        return valid
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen: list[str] = []
    for raw in items:
        name = raw.strip()
        if not name:
            continue
        if name == "all":
            expanded = valid
        elif kind == "text" and name in TEXT_GROUPS:
            expanded = _text_group(name)
        else:
            expanded = [name]
        for shift in expanded:
            if shift not in valid:
                raise ValueError(f"--shifts: unknown {kind} shift {shift!r}; valid: {', '.join(valid)}")
            if shift not in chosen:
                chosen.append(shift)
    if not chosen:
        raise ValueError(f"--shifts: no {kind} shift given in {spec!r}")
    return chosen


def _text_group(group: str) -> list[str]:
    """The text shifts named by a group: paper (the 15 of the paper's tables) or a level."""
    from qshift.shifts.text import PAPER_TEXT_SHIFTS, level

    if group == "paper":
        return list(PAPER_TEXT_SHIFTS)
    return [name for name in registry.names("text") if level(name) == group]


def parse_severities(spec: str | Sequence[int] | None, kind: str) -> list[int]:
    """Severities from ``1,2,3`` (None: all of ``kind``), each checked against the kind's range."""
    allowed = IMAGE_SEVERITIES if kind == "image" else TEXT_LEVELS
    if spec is None:
        return list(allowed)
    items: Iterable[Any] = spec.split(",") if isinstance(spec, str) else spec
    chosen: list[int] = []
    for raw in items:
        if isinstance(raw, str) and not raw.strip():
            continue
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"--severities: {raw!r} is not an integer") from None
        if value not in allowed:
            raise ValueError(
                f"--severities: {value} is outside {allowed[0]}..{allowed[-1]} for {kind} shifts"
            )
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise ValueError(f"--severities: no severity given in {spec!r}")
    return chosen


def _check_run_args(seed: int, workers: int, limit: int | None) -> None:
    """Reject a negative seed, fewer than one worker or a non-positive limit."""
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")


# ----------------------------------------------------------------------------- annotation


def _read_annotation(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` entries of a Karpathy/BLIP annotation, each checked for image and caption."""
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"annotation {path} is not valid JSON: {err}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"annotation {path} must be a non-empty JSON list of {{image, caption}} entries")
    entries = entries[:limit] if limit is not None else entries
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"annotation {path}: entry {index} is not an object")
        if not isinstance(entry.get("image"), str):
            raise ValueError(f"annotation {path}: entry {index} has no string field 'image'")
        captions = entry.get("caption")
        if not (isinstance(captions, str) or (isinstance(captions, list) and captions)):
            raise ValueError(f"annotation {path}: entry {index} has no field 'caption' (string or list)")
        if isinstance(captions, list) and not all(isinstance(c, str) for c in captions):
            raise ValueError(f"annotation {path}: entry {index} field 'caption' holds a non-string")
    return entries


def _sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _image_paths(entries: list[dict[str, Any]], annotation: Path, image_root: Path) -> list[str]:
    """Unique relative image paths in annotation order, checked to exist and to stay inside the root."""
    paths = list(dict.fromkeys(entry["image"] for entry in entries))
    for rel in paths:
        parts = PurePosixPath(rel.replace("\\", "/"))
        if parts.is_absolute() or ".." in parts.parts or not parts.parts:
            raise ValueError(
                f"annotation {annotation}: image path {rel!r} must be relative and inside the root"
            )
        if Path(rel).suffix.lower() not in _IMAGE_FORMATS:
            raise ValueError(
                f"annotation {annotation}: image {rel!r} has an unsupported extension; "
                f"supported: {', '.join(_IMAGE_FORMATS)}"
            )
    missing = [rel for rel in paths if not (image_root / rel).is_file()]
    if missing:
        shown = ", ".join(str(image_root / rel) for rel in missing[:3])
        raise FileNotFoundError(f"{len(missing)} image file(s) not found under {image_root}: {shown}")
    return paths


# ----------------------------------------------------------------------------- atomic writes


def _write_atomic(dest: Path, write: Callable[[Path], None]) -> None:
    """Write ``dest`` through ``write(tmp)`` on a hidden temporary name, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_temporaries(folder: Path) -> int:
    """Delete the temporaries a killed run left under ``folder``; return how many."""
    removed = 0
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(TMP_SUFFIX):
                Path(root, name).unlink(missing_ok=True)
                removed += 1
    return removed


def _write_json(dest: Path, payload: Any) -> None:
    """Atomically write ``payload`` as UTF-8 JSON."""
    _write_atomic(dest, lambda tmp: tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8"))


# ----------------------------------------------------------------------------- manifest


def _now() -> str:
    """UTC timestamp in ISO 8601, seconds resolution."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _environment() -> dict[str, str]:
    """Versions that determine the bytes written: qshift, python, numpy, opencv, pillow."""
    import cv2
    import PIL

    return {
        "qshift": qshift.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
    }


@dataclass
class Manifest:
    """``<out>/manifest.json``: one record per output folder and one per run, merged across runs.

    A folder record holds kind, shift, severity, seed, source sha256 (word level: ``min_cosine``),
    how many items the last run covered and how many files were written in total; a run record holds versions,
    timestamps, seed, source annotation (path, sha256), shifts, severities, limit, workers,
    status (running/completed/interrupted/failed) and per-folder ``written``/``skipped`` counts.
    Counts are reported per finished chunk of work, so a killed run may have written a few more
    files than it records; the next run counts those as skipped.
    """

    path: Path
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, out: str | Path) -> Manifest:
        """The manifest of output folder ``out`` (empty when there is none yet)."""
        path = Path(out) / MANIFEST_NAME
        if not path.is_file():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, dict(data["folders"]), list(data["runs"]))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(
                f"manifest {path} is unreadable ({err}); delete it or use another --out"
            ) from None

    @property
    def last_run(self) -> dict[str, Any]:
        """The most recent run record."""
        if not self.runs:
            raise ValueError(f"manifest {self.path} records no run")
        return self.runs[-1]

    def save(self) -> None:
        """Atomically write the manifest."""
        _write_json(self.path, {"format": 1, "folders": self.folders, "runs": self.runs})

    def check_compatible(self, folders: dict[str, dict[str, Any]]) -> None:
        """Refuse to extend a folder built with another recipe (seed, source annotation, filter)."""
        for name, info in folders.items():
            record = self.folders.get(name, {})
            differ = [key for key in RECIPE_KEYS if key in record and record[key] != info.get(key)]
            if differ:
                was = ", ".join(f"{key}={record[key]}" for key in differ)
                now = ", ".join(f"{key}={info.get(key)}" for key in differ)
                raise ValueError(
                    f"{self.path.parent / name} was built with {was}; this run has {now}: "
                    "use another --out or delete that folder"
                )


@dataclass
class _Run:
    """The bookkeeping of one build: its manifest record and counts, saved at start and end."""

    manifest: Manifest
    record: dict[str, Any]
    folders: dict[str, dict[str, Any]]

    def count(self, folder: str, written: bool) -> None:
        """Count one output file as written or skipped."""
        counts = self.record["counts"][folder]
        counts["written" if written else "skipped"] += 1

    def start(self) -> None:
        """Record the run as running (so a killed run still leaves its seed and source behind)."""
        for name, info in self.folders.items():
            previous = self.manifest.folders.get(name, {})
            self.manifest.folders[name] = {**info, "written": previous.get("written", 0)}
        self.manifest.runs.append(self.record)
        self.manifest.save()

    def finish(self, status: str) -> Manifest:
        """Close the run record with ``status`` and fold its counts into the folder records."""
        self.record["status"] = status
        self.record["finished"] = _now()
        for name, counts in self.record["counts"].items():
            self.manifest.folders[name]["written"] += counts["written"]
        self.manifest.save()
        return self.manifest


def _begin_run(
    out: Path,
    kind: str,
    annotation: Path,
    folders: dict[str, dict[str, Any]],
    settings: dict[str, Any],
) -> _Run:
    """Check the output folder against its manifest, clear stray temporaries, record the run."""
    sha256 = _sha256(annotation)
    manifest = Manifest.load(out)
    for info in folders.values():
        info.update(kind=kind, seed=settings["seed"], annotation_sha256=sha256)
    manifest.check_compatible(folders)
    removed = sum(_remove_temporaries(out / name) for name in folders if (out / name).is_dir())
    record = {
        "kind": kind,
        "status": "running",
        "started": _now(),
        "finished": None,
        "versions": _environment(),
        "annotation": {"path": str(annotation.resolve()), "sha256": sha256},
        **settings,
        "temporaries_removed": removed,
        "counts": {name: {"written": 0, "skipped": 0} for name in folders},
    }
    run = _Run(manifest, record, folders)
    run.start()
    return run


def _run_status(err: BaseException | None) -> str:
    """Manifest status for a run that ended with ``err`` (None: success)."""
    if err is None:
        return "completed"
    return "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"


# ----------------------------------------------------------------------------- parallel map


def _init_worker(parent: int, single_threaded_opencv: bool) -> None:
    """Set up a pool process: die with the parent; optionally one OpenCV thread.

    A parent killed with SIGKILL cannot stop its pool, whose processes would otherwise live on
    and keep writing. On Linux the kernel kills the worker the moment the parent dies
    (``PR_SET_PDEATHSIG``); elsewhere, and for a parent that died before that was set, a daemon
    thread polls the parent id and ends the process when it changes.
    Image workers use one OpenCV thread each, the parallelism coming from the processes.
    """
    _die_with_parent()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    if single_threaded_opencv:
        import cv2

        cv2.setNumThreads(1)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits; a no-op where prctl is missing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _exit_with_parent(parent: int) -> None:
    """End this process as soon as its parent is no longer ``parent``."""
    while os.getppid() == parent:
        time.sleep(0.05)
    os._exit(1)


def _map_jobs(
    work: Callable[[Any], Any],
    jobs: Sequence[Any],
    workers: int,
    single_threaded_opencv: bool = False,
) -> Generator[Any, None, None]:
    """Results of ``work(job)`` as they finish: in this process for one worker, else in a spawn pool."""
    if workers == 1 or len(jobs) <= 1:
        yield from (work(job) for job in jobs)
        return
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(), single_threaded_opencv),
    )
    try:
        futures: list[Future[Any]] = [pool.submit(work, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _chunk_size(count: int, workers: int, cap: int) -> int:
    """Items per job: about four jobs per worker, at most ``cap``."""
    return max(1, min(cap, -(-count // (4 * workers))))


# ----------------------------------------------------------------------------- images


@dataclass(frozen=True)
class _ImageJob:
    """A chunk of source images, each to be written for every (shift, severity) pair."""

    root: str
    out: str
    prefix: str
    seed: int
    pairs: tuple[tuple[str, int], ...]
    items: tuple[tuple[int, str], ...]


def _load_rgb(path: Path) -> np.ndarray:
    """An image file as H×W×3 uint8 RGB (no EXIF rotation, like the dataset loaders)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"unreadable image file: {path} ({err})") from err


def _save_image(dest: Path, pixels: np.ndarray) -> None:
    """Write ``pixels`` atomically in the format of ``dest``'s extension."""
    fmt, options = _IMAGE_FORMATS[dest.suffix.lower()]
    _write_atomic(dest, lambda tmp: Image.fromarray(pixels).save(tmp, format=fmt, **options))


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
                _save_image(
                    dest, registry.apply(shift, pixels, severity, item_seed(job.seed, shift, severity, index))
                )
            results.append((folder, written))
    return results


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

    With ``workers > 1`` the work runs in "spawn" processes, so a script calling this must
    guard its entry point with ``if __name__ == "__main__":`` (as for any spawn pool).
    """
    annotation, image_root, out = Path(annotation), Path(image_root), Path(out)
    shift_names = parse_shifts(shifts, "image")
    levels = parse_severities(severities, "image")
    _check_run_args(seed, workers, limit)
    entries = _read_annotation(annotation, limit)
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
    run = _begin_run(out, "image", annotation, folders, settings)
    items = list(enumerate(paths))
    size = _chunk_size(len(items), workers, cap=8)
    jobs = [
        _ImageJob(str(image_root), str(out), prefix, seed, pairs, tuple(items[i : i + size]))
        for i in range(0, len(items), size)
    ]
    bar = tqdm(total=len(items) * len(pairs), unit="file", disable=not progress, desc="qshift shift images")
    return _execute(run, _corrupt_images, jobs, workers, bar, _image_outputs, single_threaded_opencv=True)


def _execute(
    run: _Run,
    work: Callable[[Any], Any],
    jobs: Sequence[Any],
    workers: int,
    bar: tqdm,
    collect: Callable[[Any], tuple[list[tuple[str, bool]], int]],
    single_threaded_opencv: bool = False,
) -> Manifest:
    """Run ``work`` on the jobs, ``collect`` each result here, and close the run record however it ends.

    ``collect`` turns a result into (folder, written?) outputs and the progress it represents.
    """
    error: BaseException | None = None
    results = _map_jobs(work, jobs, workers, single_threaded_opencv)
    try:
        for result in results:
            outputs, done = collect(result)
            for folder, written in outputs:
                run.count(folder, written)
            bar.update(done)
    except BaseException as err:
        error = err
        raise
    finally:
        results.close()  # stops the pool now, cancelling jobs not yet started
        bar.close()
        manifest = run.finish(_run_status(error))
    return manifest


def _image_outputs(result: list[tuple[str, bool]]) -> tuple[list[tuple[str, bool]], int]:
    """An image job's outputs, one progress unit each."""
    return result, len(result)


# ----------------------------------------------------------------------------- texts


@dataclass(frozen=True)
class _TextJob:
    """Captions ``start…`` of one (shift, level) file, or all of them for a sentence-level shift."""

    shift: str
    level: int
    seed: int
    start: int
    captions: tuple[str, ...]
    options: tuple[tuple[str, Any], ...] = ()
    min_cosine: float | None = None


@lru_cache(maxsize=1)
def _semantic_filter() -> Callable[[list[str]], Any]:
    """The bundled MiniLM sentence encoder, loaded once per process for the cosine filter."""
    from qshift.shifts.text import minilm_encoder

    return minilm_encoder()


def _perturb_captions(job: _TextJob) -> tuple[str, int, int, list[str]]:
    """Perturb a job's captions; return (shift, level, start, captions)."""
    from qshift.shifts.text import level, perturb, perturb_many

    options = dict(job.options)
    if level(job.shift) == "sentence":
        seed = item_seed(job.seed, job.shift, job.level, 0)
        return (
            job.shift,
            job.level,
            job.start,
            perturb_many(job.shift, list(job.captions), job.level, seed, **options),
        )
    if job.min_cosine is not None and level(job.shift) == "word":
        options.update(filter=_semantic_filter(), min_cosine=job.min_cosine)
    texts = [
        perturb(
            job.shift, caption, job.level, item_seed(job.seed, job.shift, job.level, job.start + i), **options
        )
        for i, caption in enumerate(job.captions)
    ]
    return job.shift, job.level, job.start, texts


def _flat_captions(entries: list[dict[str, Any]]) -> list[str]:
    """The first ``MAX_CAPTIONS`` captions of every entry, entry after entry."""
    flat: list[str] = []
    for entry in entries:
        captions = entry["caption"]
        flat.extend([captions] if isinstance(captions, str) else captions[:MAX_CAPTIONS])
    return flat


def _rebuild_entries(entries: list[dict[str, Any]], captions: list[str]) -> list[dict[str, Any]]:
    """The entries with their captions replaced, in order, by ``captions`` (extra ones dropped)."""
    rebuilt: list[dict[str, Any]] = []
    position = 0
    for entry in entries:
        new = copy.deepcopy(entry)
        if isinstance(entry["caption"], str):
            new["caption"] = captions[position]
            position += 1
        else:
            count = min(len(entry["caption"]), MAX_CAPTIONS)
            new["caption"] = captions[position : position + count]
            position += count
        rebuilt.append(new)
    return rebuilt


def _text_done(path: Path, entries: int) -> bool:
    """Whether ``path`` is a finished output: a JSON list with one item per source entry."""
    if not path.is_file():
        return False
    try:
        return len(json.loads(path.read_text(encoding="utf-8"))) == entries
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
        return False


def _text_targets(shift_names: list[str], levels: list[int]) -> list[tuple[str, int]]:
    """(shift, level) files to build: char/word shifts at every level, sentence-level at level 1."""
    from qshift.shifts.text import level

    targets: list[tuple[str, int]] = []
    for shift in shift_names:
        shift_levels = [SENTENCE_LEVEL] if level(shift) == "sentence" else levels
        targets.extend((shift, v) for v in shift_levels)
    return targets


def build_texts(
    annotation: str | Path,
    out: str | Path,
    shifts: str | Sequence[str] | None = None,
    severities: str | Sequence[int] | None = None,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    *,
    min_cosine: float | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
) -> Manifest:
    """Write perturbed copies of the annotation (first ``limit`` entries) under ``out``.

    ``min_cosine`` turns on the original benchmark's semantic filter for word-level shifts
    (re-sample until the bundled MiniLM's cosine to the original reaches it); ``options`` go to
    every perturbation call (e.g. ``model_dir`` for a sentence-level shift).
    """
    from qshift.shifts.text import level

    annotation, out = Path(annotation), Path(out)
    shift_names = parse_shifts(shifts, "text")
    levels = parse_severities(severities, "text")
    _check_run_args(seed, workers, limit)
    if min_cosine is not None and not 0.0 < min_cosine <= 1.0:
        raise ValueError(f"--min-cosine must be in (0, 1], got {min_cosine}")
    entries = _read_annotation(annotation, limit)
    _check_sentence_models(shift_names, options or {})
    targets = _text_targets(shift_names, levels)
    folders = {text_folder(s, v): {"shift": s, "severity": v, "items": len(entries)} for s, v in targets}
    for info in folders.values():
        if level(info["shift"]) == "word":  # the semantic filter changes word-level outputs only
            info["min_cosine"] = min_cosine
    settings = {
        "seed": seed,
        "shifts": shift_names,
        "severities": levels,
        "limit": limit,
        "workers": workers,
        "min_cosine": min_cosine,
    }
    run = _begin_run(out, "text", annotation, folders, settings)
    captions = _flat_captions(entries)
    pending = [
        (s, v) for s, v in targets if not _text_done(out / text_folder(s, v) / annotation.name, len(entries))
    ]
    for s, v in targets:
        if (s, v) not in pending:
            run.count(text_folder(s, v), written=False)
    jobs = _text_jobs(pending, captions, seed, workers, tuple(sorted((options or {}).items())), min_cosine)
    assembler = _TextAssembler(out, annotation.name, entries, len(captions))
    bar = tqdm(
        total=len(captions) * len(pending), unit="caption", disable=not progress, desc="qshift shift texts"
    )
    return _execute(run, _perturb_captions, jobs, workers, bar, assembler.collect)


def _check_sentence_models(shift_names: list[str], options: dict[str, Any]) -> None:
    """Fail before any work when a chosen sentence-level shift has no local model."""
    from qshift.shifts import sentence
    from qshift.shifts.text import level

    chosen = [name for name in shift_names if level(name) == "sentence"]
    if options.get("model_dir") is not None and len(chosen) > 1:
        raise ValueError(
            f"--model-dir serves one sentence-level shift, got {', '.join(chosen)}; "
            f"for several, set ${sentence.ENV_VAR} to a folder of per-shift model folders"
        )
    for name in chosen:
        try:
            sentence.model_dirs(name, options.get("model_dir"))
        except ValueError as err:
            raise ValueError(f"{err}; or leave sentence-level shifts out, e.g. --shifts char,word") from None


def _text_jobs(
    targets: list[tuple[str, int]],
    captions: list[str],
    seed: int,
    workers: int,
    options: tuple[tuple[str, Any], ...],
    min_cosine: float | None,
) -> list[_TextJob]:
    """Split each (shift, level) file into caption chunks (one job for a sentence-level shift)."""
    from qshift.shifts.text import level

    size = _chunk_size(len(captions) * max(1, len(targets)), workers, cap=2000)
    jobs: list[_TextJob] = []
    for shift, lvl in targets:
        step = len(captions) if level(shift) == "sentence" else size
        jobs.extend(
            _TextJob(shift, lvl, seed, i, tuple(captions[i : i + step]), options, min_cosine)
            for i in range(0, len(captions), step)
        )
    return jobs


class _TextAssembler:
    """Gathers perturbed caption chunks in the parent and writes each (shift, level) file when complete."""

    def __init__(self, out: Path, filename: str, entries: list[dict[str, Any]], total: int):
        self.out, self.filename, self.entries, self.total = out, filename, entries, total
        self.parts: dict[tuple[str, int], dict[int, list[str]]] = {}

    def collect(self, result: tuple[str, int, int, list[str]]) -> tuple[list[tuple[str, bool]], int]:
        """Store one chunk; once its file has every caption, write it and report it as written."""
        shift, lvl, start, texts = result
        parts = self.parts.setdefault((shift, lvl), {})
        parts[start] = texts
        if sum(len(p) for p in parts.values()) < self.total:
            return [], len(texts)
        captions = [text for key in sorted(parts) for text in parts[key]]
        del self.parts[(shift, lvl)]
        _write_json(
            self.out / text_folder(shift, lvl) / self.filename, _rebuild_entries(self.entries, captions)
        )
        return [(text_folder(shift, lvl), True)], len(texts)
