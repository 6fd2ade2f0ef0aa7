"""One export run: record it in the manifest, run its jobs, count its files, close the record.

The run is recorded as ``running`` before any work starts, so a killed run still leaves its
seed and source behind; stray temporaries of a killed run are deleted at the next start; the
record is closed as completed, interrupted or failed however the run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qshift.shifts.export.manifest import Manifest, environment, now, sha256
from qshift.shifts.export.workers import map_jobs
from qshift.utils.io import remove_temporaries

#: what a job's result reports: (output folder, written? else skipped) per file, and progress units
Outputs = tuple[list[tuple[str, bool]], int]


@dataclass
class Run:
    """The bookkeeping of one export: its manifest record and counts, saved at start and end."""

    manifest: Manifest
    record: dict[str, Any]
    folders: dict[str, dict[str, Any]]

    def count(self, folder: str, written: bool) -> None:
        """Count one output file as written or skipped."""
        counts = self.record["counts"][folder]
        counts["written" if written else "skipped"] += 1

    def start(self) -> None:
        """Record the folders and the run as running, and save the manifest."""
        for name, info in self.folders.items():
            previous = self.manifest.folders.get(name, {})
            self.manifest.folders[name] = {**info, "written": previous.get("written", 0)}
        self.manifest.runs.append(self.record)
        self.manifest.save()

    def finish(self, status: str) -> Manifest:
        """Close the run record with ``status`` and fold its counts into the folder records."""
        self.record["status"] = status
        self.record["finished"] = now()
        for name, counts in self.record["counts"].items():
            self.manifest.folders[name]["written"] += counts["written"]
        self.manifest.save()
        return self.manifest


def begin_run(
    out: Path,
    kind: str,
    annotation: Path,
    folders: dict[str, dict[str, Any]],
    settings: dict[str, Any],
) -> Run:
    """Check the output folder against its manifest, clear stray temporaries, record the run.

    ``folders`` maps each output folder to its record (shift, severity, items, …); ``settings``
    (seed, shifts, severities, limit, workers, …) go into the run record as they are.
    """
    digest = sha256(annotation)
    manifest = Manifest.load(out)
    for info in folders.values():
        info.update(kind=kind, seed=settings["seed"], annotation_sha256=digest)
    manifest.check_compatible(folders)
    removed = sum(remove_temporaries(out / name) for name in folders if (out / name).is_dir())
    record = {
        "kind": kind,
        "status": "running",
        "started": now(),
        "finished": None,
        "versions": environment(),
        "annotation": {"path": str(annotation.resolve()), "sha256": digest},
        **settings,
        "temporaries_removed": removed,
        "counts": {name: {"written": 0, "skipped": 0} for name in folders},
    }
    run = Run(manifest, record, folders)
    run.start()
    return run


def execute(
    run: Run,
    work: Callable[[Any], Any],
    jobs: Sequence[Any],
    workers: int,
    bar: tqdm,
    collect: Callable[[Any], Outputs],
    setup: Callable[[], None] | None = None,
) -> Manifest:
    """Run ``work`` on the jobs, ``collect`` each result here, and close the run record however it ends.

    ``collect`` turns a result into its :data:`Outputs`; ``setup`` prepares each pool process.
    """
    error: BaseException | None = None
    results = map_jobs(work, jobs, workers, setup)
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
        manifest = run.finish(run_status(error))
    return manifest


def run_status(err: BaseException | None) -> str:
    """Manifest status for a run that ended with ``err`` (None: success)."""
    if err is None:
        return "completed"
    return "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
