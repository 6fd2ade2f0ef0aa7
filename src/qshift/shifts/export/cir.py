"""``qshift shift cir``: FIQ-C / CIRR-C style shifted copies of a composed image retrieval dataset.

A copy is a dataset root in the source's own layout, loadable with the same spec kind
(``fashioniq:<copy>``, ``cirr:<copy>[:<split>]``, ``circo:<copy>[:<split>]``), one folder per
(shift, severity)::

    <out>/<Family>_IP_<corruption>_<severity>/   reference images corrupted (image:NAME)
    <out>/<Family>_TP_<perturbation>_<level>/    modification texts perturbed (text:NAME)

with ``Family`` one of ``FashionIQ``, ``CIRR``, ``CIRCO``. In each folder the annotation files
holding the queries are rewritten; everything else of the source root (image splits, gallery
images, the COCO image list) is reached through symbolic links, so the gallery stays clean and
the copy stays small (it breaks if the source root moves).

- **Image copies** write each query's corrupted reference to ``references/<query index>.png``
  (lossless) and name it in the entry's extra field ``reference_path``
  (:data:`qshift.utils.cir_layout.REFERENCE_PATH`). The entry keeps its original reference
  name, which the loaders still use to exclude the clean reference from the query's ranking.
  A query has its own file because its corruption is drawn from its own seed: two queries
  sharing a reference image get two different draws, as on the fly.
- **Text copies** replace the modification text in the entry (CIRR ``caption``, CIRCO
  ``relative_caption``; FashionIQ ``captions`` becomes a one-item list holding the perturbed
  joined text, which the loader takes as written). Sentence-level perturbations have no
  severity and are written once, to level 1, as ``qshift shift texts`` does.

**A copy equals the on-the-fly shift at the same seed.** Query ``i`` (in the loader's query
order for the exported spec) is shifted with :func:`qshift.utils.seeds.item_seed`
``(seed, i, shift, severity)`` through :func:`qshift.shifts.apply`, exactly as
:class:`qshift.data.queries.QueryBatches` shifts the ``image`` or ``text`` part of composed
query ``i``. ``limit`` keeps the first queries only: the copy's annotation files then hold only
their entries (a file left without any is not written).

Runs are resumable and recorded in ``<out>/manifest.json`` like the other kinds (one file per
reference image; one per text folder); a folder's annotation files are written once all its
files are, so a killed run leaves no loadable half copy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

import qshift.shifts
from qshift.errors import ParameterError
from qshift.shifts import sentence
from qshift.shifts import text as text_shifts
from qshift.shifts.export.images import IMAGE_SEVERITIES
from qshift.shifts.export.kinds import (
    ExportKind,
    check_run_args,
    parse_severities,
    parse_shifts,
    register_kind,
)
from qshift.shifts.export.manifest import Manifest
from qshift.shifts.export.runs import Outputs, begin_run, execute
from qshift.shifts.export.workers import chunk_size
from qshift.utils.cir_layout import REFERENCE_PATH, CirLayout
from qshift.utils.io import write_atomic, write_json
from qshift.utils.seeds import item_seed

#: the parts of a composed query a copy may shift
PARTS = ("image", "text")
#: folder tag of each part
TAGS = {"image": "IP", "text": "TP"}
#: the folder holding a copy's corrupted reference images
REFERENCES = "references"
#: the level sentence-level text perturbations are written to
SENTENCE_LEVEL = 1
_CHUNK_CAP = {"image": 8, "text": 500}

register_kind(
    ExportKind(
        "image+text",
        tuple(sorted(set(IMAGE_SEVERITIES) | set(text_shifts.SEVERITIES))),
        groups={part: () for part in PARTS},
    )
)


@dataclass(frozen=True)
class Target:
    """One output folder: a shifted part, the shift and its severity."""

    part: str
    shift: str
    severity: int

    def folder(self, family: str) -> str:
        return f"{family}_{TAGS[self.part]}_{self.shift}_{self.severity}"


def parse_targets(shifts: str | Sequence[str] | None, severities: str | Sequence[int] | None) -> list[Target]:
    """Targets from ``image:NAME``/``text:NAME`` items, the groups ``image``/``text`` or ``all``.

    ``NAME`` may be a group of its part (``all``; text: ``paper``, ``char``, ``word``,
    ``sentence``). Severities are checked against each part's range; sentence-level text
    perturbations get level 1 only.
    """
    items = ["all"] if shifts is None else shifts.split(",") if isinstance(shifts, str) else list(shifts)
    chosen: dict[str, list[str]] = {part: [] for part in PARTS}
    for raw in (item.strip() for item in items):
        if not raw:
            continue
        head, colon, name = raw.partition(":")
        if raw in ("all", *PARTS):
            parts, name = (PARTS if raw == "all" else (raw,)), "all"
        elif colon and head in PARTS:
            parts = (head,)
        else:
            raise ParameterError(
                "shifts", f"cir shifts are image:NAME or text:NAME (or image, text, all), got {raw!r}"
            )
        for part in parts:
            chosen[part] += [s for s in parse_shifts(name, part) if s not in chosen[part]]
    if not any(chosen.values()):
        raise ParameterError("shifts", f"no cir shift given in {shifts!r}")
    targets = []
    for part in PARTS:
        levels = parse_severities(severities, part) if chosen[part] else []
        for shift in chosen[part]:
            sentence_level = part == "text" and text_shifts.level(shift) == "sentence"
            targets += [Target(part, shift, v) for v in ([SENTENCE_LEVEL] if sentence_level else levels)]
    return list(dict.fromkeys(targets))


def build_cir(
    layout: CirLayout,
    out: str | Path,
    shifts: str | Sequence[str] | None = None,
    severities: str | Sequence[int] | None = None,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    *,
    progress: bool = True,
) -> Manifest:
    """Write shifted copies of the queries ``layout`` describes under ``out`` (module docstring)."""
    out = Path(out)
    targets = parse_targets(shifts, severities)
    check_run_args(seed, workers, limit)
    _check_sentence_models([t.shift for t in targets if t.part == "text"])
    queries = layout.queries[:limit] if limit is not None else layout.queries
    folders = {
        t.folder(layout.family): {
            "shift": f"{t.part}:{t.shift}",
            "severity": t.severity,
            "items": len(queries),
        }
        for t in targets
    }
    settings = {
        "seed": seed,
        "source_root": str(layout.root.resolve()),
        "shifts": [f"{t.part}:{t.shift}@{t.severity}" for t in targets],
        "limit": limit,
        "workers": workers,
    }
    run = begin_run(out, "cir", layout.root / layout.files[0], folders, settings)
    jobs: list[Any] = []
    images = [t for t in targets if t.part == "image"]
    if images:
        size = chunk_size(len(queries), workers, _CHUNK_CAP["image"])
        references = [(i, str(layout.root / q.reference)) for i, q in enumerate(queries)]
        jobs += [
            _ImageJob(str(out), layout.family, seed, tuple(images), tuple(references[s : s + size]))
            for s in range(0, len(references), size)
        ]
    texts = [t for t in targets if t.part == "text"]
    kept = list(dict.fromkeys(q.file for q in queries))
    pending = [t for t in texts if not all((out / t.folder(layout.family) / f).is_file() for f in kept)]
    for target in texts:
        if target not in pending:
            run.count(target.folder(layout.family), written=False)
    size = chunk_size(len(queries) * max(1, len(pending)), workers, _CHUNK_CAP["text"])
    jobs += [
        _TextJob(target, seed, start, tuple(q.text for q in queries[start : start + size]))
        for target in pending
        for start in range(0, len(queries), size)
    ]
    source = _Source(layout, len(queries))
    assembler = _TextAssembler(out, source)
    bar = tqdm(total=len(jobs), unit="job", disable=not progress, desc="qshift shift cir")
    manifest = execute(run, _work, jobs, workers, bar, assembler.collect, setup=_one_opencv_thread)
    for target in images:
        source.write_copy(out / target.folder(layout.family), image=True)
    return manifest


def _check_sentence_models(names: list[str]) -> None:
    """Fail before any work when a chosen sentence-level perturbation has no local model."""
    for name in names:
        if text_shifts.level(name) != "sentence":
            continue
        try:
            sentence.model_dirs(name)
        except ValueError as err:
            raise ParameterError(
                "shifts", f"{err}; or leave sentence-level shifts out, e.g. text:char"
            ) from None


# -- the work of one job (module level, so spawn workers can run it) ----------------------------
@dataclass(frozen=True)
class _ImageJob:
    """A chunk of (query index, reference image path), each corrupted for every image target."""

    out: str
    family: str
    seed: int
    targets: tuple[Target, ...]
    references: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class _TextJob:
    """Modification texts ``start…`` of one text target."""

    target: Target
    seed: int
    start: int
    texts: tuple[str, ...]


def _work(job: _ImageJob | _TextJob) -> Any:
    return _corrupt_references(job) if isinstance(job, _ImageJob) else _perturb_texts(job)


def _corrupt_references(job: _ImageJob) -> list[tuple[str, bool]]:
    """Write the missing reference images of a chunk; report (folder, written?) per file."""
    results: list[tuple[str, bool]] = []
    for index, path in job.references:
        pixels: np.ndarray | None = None
        for target in job.targets:
            folder = target.folder(job.family)
            dest = Path(job.out) / folder / REFERENCES / f"{index}.png"
            written = not dest.is_file()
            if written:
                pixels = _load_rgb(Path(path)) if pixels is None else pixels
                seed = item_seed(job.seed, index, target.shift, target.severity)
                shifted = qshift.shifts.apply(target.shift, pixels, target.severity, seed, modality="image")
                write_atomic(dest, lambda tmp, img=shifted: Image.fromarray(img).save(tmp, format="PNG"))
            results.append((folder, written))
    return results


def _perturb_texts(job: _TextJob) -> tuple[Target, int, list[str]]:
    """Perturb a chunk of modification texts, each with its own query's seed."""
    shift, level = job.target.shift, job.target.severity
    texts = [
        qshift.shifts.apply(
            shift, text, level, item_seed(job.seed, job.start + i, shift, level), modality="text"
        )
        for i, text in enumerate(job.texts)
    ]
    return job.target, job.start, texts


def _load_rgb(path: Path) -> np.ndarray:
    """An image file as H×W×3 uint8 RGB, decoded as the dataset loaders decode it."""
    if not path.is_file():
        raise FileNotFoundError(f"reference image not found: {path}")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"unreadable image file: {path} ({err})") from err


def _one_opencv_thread() -> None:
    """Give a pool process one OpenCV thread: the parallelism comes from the processes."""
    import cv2

    cv2.setNumThreads(1)


# -- assembling and writing copies --------------------------------------------------------------
class _Source:
    """The source annotation entries of the kept queries, and the copies written from them."""

    def __init__(self, layout: CirLayout, total: int):
        self.layout = layout
        self.queries = layout.queries[:total]
        self.files = list(dict.fromkeys(q.file for q in self.queries))
        self.entries = {
            name: json.loads((layout.root / name).read_text(encoding="utf-8")) for name in self.files
        }

    def write_copy(self, folder: Path, *, image: bool = False, texts: list[str] | None = None) -> None:
        """Write a folder's annotation files and link the rest of the source root into it."""
        layout = self.layout
        rewritten: dict[str, list[Any]] = {name: [] for name in self.files}
        for index, query in enumerate(self.queries):
            entry = copy.deepcopy(self.entries[query.file][query.entry])
            if image:
                entry[REFERENCE_PATH] = f"{REFERENCES}/{index}.png"
            if texts is not None:
                entry[layout.text_field] = [texts[index]] if layout.text_is_list else texts[index]
            rewritten[query.file].append(entry)
        # every annotation file of the source stays out of the links, so a partial copy mixes nothing
        _link_tree(layout.root, folder, set(layout.files) | ({REFERENCES} if image else set()))
        for name, entries in rewritten.items():
            write_json(folder / name, entries, indent=None)


class _TextAssembler:
    """Gathers perturbed text chunks; writes a text folder once it has every query's text."""

    def __init__(self, out: Path, source: _Source):
        self.out, self.source = out, source
        self.parts: dict[Target, dict[int, list[str]]] = {}

    def collect(self, result: Any) -> Outputs:
        """One job's result as outputs: reference files, or a finished text folder."""
        if isinstance(result, list):
            return result, 1
        target, start, texts = result
        parts = self.parts.setdefault(target, {})
        parts[start] = texts
        if sum(len(p) for p in parts.values()) < len(self.source.queries):
            return [], 1
        shifted = [text for key in sorted(parts) for text in parts[key]]
        del self.parts[target]
        folder = target.folder(self.source.layout.family)
        self.source.write_copy(self.out / folder, texts=shifted)
        return [(folder, True)], 1


def _link_tree(source: Path, dest: Path, skip: set[str]) -> None:
    """Make ``dest`` show ``source`` through symbolic links, except the relative paths in ``skip``.

    Folders on the way to a skipped path are real folders whose other entries are links; an
    entry holding ``dest`` itself (an output folder inside the source root) is not linked.
    """
    dest.mkdir(parents=True, exist_ok=True)
    inside = dest.resolve()
    for entry in sorted(source.iterdir()):
        name = entry.name
        if name in skip or inside.is_relative_to(entry.resolve()):
            continue
        inner = {p[len(name) + 1 :] for p in skip if p.startswith(name + "/")}
        if inner and entry.is_dir():
            _link_tree(entry, dest / name, inner)
            continue
        link = dest / name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
