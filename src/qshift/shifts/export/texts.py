"""``qshift shift texts``: the annotation rewritten once per (perturbation, level).

Layout: ``<out>/annotation_<perturbation>/<L>/<annotation file name>``, with the same JSON
schema. Only the first 5 captions of an entry are perturbed and the others are **dropped**, so
every caption in the output is a shifted query whichever loader reads it (the public release
kept captions 6+ unchanged; qshift's loader keeps the first 5 anyway). A caption given as a
single string stays a string. Sentence-level shifts have no severity: they are written to
level 1, as in the public release.

Caption ``j`` (the ``j``-th of the kept captions, entry after entry) is perturbed with
:func:`qshift.utils.seeds.item_seed` ``(seed, j, shift, level)``. The captions are perturbed as
the annotation writes them; the query stream perturbs the loader's BLIP-normalised captions, so
the two agree caption for caption where the annotation's captions are already normalised.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qshift.errors import ParameterError
from qshift.shifts import sentence
from qshift.shifts import text as text_shifts
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
from qshift.shifts.export.workers import chunk_size
from qshift.utils.io import write_json
from qshift.utils.seeds import item_seed

TEXT_LEVELS = text_shifts.SEVERITIES
#: the one level sentence-level shifts (which have no severity) are written to
SENTENCE_LEVEL = 1
#: captions perturbed per entry; later ones are dropped
MAX_CAPTIONS = 5
#: captions per job at most
_CHUNK_CAP = 2000

register_kind(
    ExportKind(
        "text",
        TEXT_LEVELS,
        groups={
            "paper": text_shifts.PAPER_TEXT_SHIFTS,
            **{
                group: tuple(p.name for p in text_shifts.PERTURBATIONS.values() if p.level == group)
                for group in ("char", "word", "sentence")
            },
        },
    )
)


def text_folder(shift: str, level: int) -> str:
    """Relative folder (``annotation_<shift>/<L>``) of the annotation perturbed by ``shift``."""
    return f"annotation_{shift}/{level}"


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
    annotation, out = Path(annotation), Path(out)
    shift_names = parse_shifts(shifts, "text")
    levels = parse_severities(severities, "text")
    check_run_args(seed, workers, limit)
    if min_cosine is not None and not 0.0 < min_cosine <= 1.0:
        raise ParameterError("min_cosine", f"min_cosine must be in (0, 1], got {min_cosine}")
    entries = read_entries(annotation, limit)
    _check_sentence_models(shift_names, options or {})
    targets = _targets(shift_names, levels)
    folders = {text_folder(s, v): {"shift": s, "severity": v, "items": len(entries)} for s, v in targets}
    for info in folders.values():
        if text_shifts.level(info["shift"]) == "word":  # the filter changes word-level outputs only
            info["min_cosine"] = min_cosine
    settings = {
        "seed": seed,
        "shifts": shift_names,
        "severities": levels,
        "limit": limit,
        "workers": workers,
        "min_cosine": min_cosine,
    }
    run = begin_run(out, "text", annotation, folders, settings)
    captions = _flat_captions(entries)
    pending = [
        (s, v) for s, v in targets if not _done(out / text_folder(s, v) / annotation.name, len(entries))
    ]
    for s, v in targets:
        if (s, v) not in pending:
            run.count(text_folder(s, v), written=False)
    frozen_options = tuple(sorted((options or {}).items()))
    jobs = _jobs(pending, captions, seed, workers, frozen_options, min_cosine)
    assembler = _Assembler(out, annotation.name, entries, len(captions))
    bar = tqdm(
        total=len(captions) * len(pending), unit="caption", disable=not progress, desc="qshift shift texts"
    )
    return execute(run, _perturb_captions, jobs, workers, bar, assembler.collect)


def _check_sentence_models(shift_names: list[str], options: dict[str, Any]) -> None:
    """Fail before any work when a chosen sentence-level shift has no local model."""
    chosen = [name for name in shift_names if text_shifts.level(name) == "sentence"]
    if options.get("model_dir") is not None and len(chosen) > 1:
        raise ParameterError(
            "model_dir",
            f"a model directory serves one sentence-level shift, got {', '.join(chosen)}; "
            f"for several, set ${sentence.ENV_VAR} to a folder of per-shift model folders",
        )
    for name in chosen:
        try:
            sentence.model_dirs(name, options.get("model_dir"))
        except ValueError as err:
            raise ParameterError(
                "shifts", f"{err}; or leave sentence-level shifts out, e.g. shifts char,word"
            ) from None


def _targets(shift_names: list[str], levels: list[int]) -> list[tuple[str, int]]:
    """(shift, level) files to build: char/word shifts at every level, sentence-level at level 1."""
    targets: list[tuple[str, int]] = []
    for shift in shift_names:
        shift_levels = [SENTENCE_LEVEL] if text_shifts.level(shift) == "sentence" else levels
        targets.extend((shift, v) for v in shift_levels)
    return targets


def _flat_captions(entries: list[dict[str, Any]]) -> list[str]:
    """The first ``MAX_CAPTIONS`` captions of every entry, entry after entry."""
    flat: list[str] = []
    for entry in entries:
        captions = entry["caption"]
        flat.extend([captions] if isinstance(captions, str) else captions[:MAX_CAPTIONS])
    return flat


def _done(path: Path, entries: int) -> bool:
    """Whether ``path`` is a finished output: a JSON list with one item per source entry."""
    if not path.is_file():
        return False
    try:
        return len(json.loads(path.read_text(encoding="utf-8"))) == entries
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
        return False


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


def _jobs(
    targets: list[tuple[str, int]],
    captions: list[str],
    seed: int,
    workers: int,
    options: tuple[tuple[str, Any], ...],
    min_cosine: float | None,
) -> list[_TextJob]:
    """Split each (shift, level) file into caption chunks (one job for a sentence-level shift)."""
    size = chunk_size(len(captions) * max(1, len(targets)), workers, cap=_CHUNK_CAP)
    jobs: list[_TextJob] = []
    for shift, lvl in targets:
        step = len(captions) if text_shifts.level(shift) == "sentence" else size
        jobs.extend(
            _TextJob(shift, lvl, seed, i, tuple(captions[i : i + step]), options, min_cosine)
            for i in range(0, len(captions), step)
        )
    return jobs


@lru_cache(maxsize=1)
def _semantic_filter() -> Callable[[list[str]], Any]:
    """The bundled MiniLM sentence encoder, loaded once per process for the cosine filter."""
    return text_shifts.minilm_encoder()


def _perturb_captions(job: _TextJob) -> tuple[str, int, int, list[str]]:
    """Perturb a job's captions; return (shift, level, start, captions)."""
    options = dict(job.options)
    kind = text_shifts.level(job.shift)
    if kind == "sentence":  # batched generation, which ignores the seed
        texts = text_shifts.perturb_many(job.shift, list(job.captions), job.level, job.seed, **options)
        return job.shift, job.level, job.start, texts
    if job.min_cosine is not None and kind == "word":
        options.update(filter=_semantic_filter(), min_cosine=job.min_cosine)
    texts = [
        text_shifts.perturb(
            job.shift, caption, job.level, item_seed(job.seed, job.start + i, job.shift, job.level), **options
        )
        for i, caption in enumerate(job.captions)
    ]
    return job.shift, job.level, job.start, texts


class _Assembler:
    """Gathers perturbed caption chunks in the parent and writes each (shift, level) file when complete."""

    def __init__(self, out: Path, filename: str, entries: list[dict[str, Any]], total: int):
        self.out, self.filename, self.entries, self.total = out, filename, entries, total
        self.parts: dict[tuple[str, int], dict[int, list[str]]] = {}

    def collect(self, result: tuple[str, int, int, list[str]]) -> Outputs:
        """Store one chunk; once its file has every caption, write it and report it as written."""
        shift, lvl, start, texts = result
        parts = self.parts.setdefault((shift, lvl), {})
        parts[start] = texts
        if sum(len(p) for p in parts.values()) < self.total:
            return [], len(texts)
        captions = [text for key in sorted(parts) for text in parts[key]]
        del self.parts[(shift, lvl)]
        dest = self.out / text_folder(shift, lvl) / self.filename
        write_json(dest, _rebuild_entries(self.entries, captions), indent=None)
        return [(text_folder(shift, lvl), True)], len(texts)


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
