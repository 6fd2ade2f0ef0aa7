"""``<out>/manifest.json``: what each output folder holds and how each run that wrote it went.

The manifest is what makes an output folder resumable without mixing recipes: a run may add
files to a folder only when the folder's recorded seed, source annotation and (word level)
semantic filter match its own.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import qshift
from qshift.errors import ParameterError
from qshift.utils.io import write_json

MANIFEST_NAME = "manifest.json"
#: the manifest format: 2 means items seeded by :func:`qshift.utils.seeds.item_seed`; a folder
#: of another format was seeded otherwise, so a run never adds files to it
MANIFEST_FORMAT = 2
#: folder-record fields that must match for a run to add files to an existing folder
RECIPE_KEYS = ("seed", "annotation_sha256", "min_cosine")


@dataclass
class Manifest:
    """``<out>/manifest.json``: one record per output folder and one per run, merged across runs.

    A folder record holds kind, shift, severity, seed, source sha256 (word level: ``min_cosine``),
    how many items the last run covered and how many files were written in total; a run record
    holds versions, timestamps, seed, source annotation (path, sha256), shifts, severities,
    limit, workers, status (running/completed/interrupted/failed) and per-folder
    ``written``/``skipped`` counts. Counts are reported per finished chunk of work, so a killed
    run may have written a few more files than it records; the next run counts those as skipped.
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
            manifest = cls(path, dict(data["folders"]), list(data["runs"]))
            written_format = data.get("format")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
            raise ParameterError(
                "out", f"manifest {path} is unreadable ({err}); delete it or use another output folder"
            ) from None
        if written_format != MANIFEST_FORMAT:
            raise ParameterError(
                "out",
                f"manifest {path} has format {written_format}, whose files were seeded otherwise than "
                f"format {MANIFEST_FORMAT}'s; delete that output folder or use another one",
            )
        return manifest

    @property
    def last_run(self) -> dict[str, Any]:
        """The most recent run record."""
        if not self.runs:
            raise ValueError(f"manifest {self.path} records no run")
        return self.runs[-1]

    def save(self) -> None:
        """Atomically write the manifest."""
        write_json(self.path, {"format": MANIFEST_FORMAT, "folders": self.folders, "runs": self.runs})

    def check_compatible(self, folders: dict[str, dict[str, Any]]) -> None:
        """Refuse to extend a folder built with another recipe (seed, source annotation, filter)."""
        for name, info in folders.items():
            record = self.folders.get(name, {})
            differ = [key for key in RECIPE_KEYS if key in record and record[key] != info.get(key)]
            if differ:
                was = ", ".join(f"{key}={record[key]}" for key in differ)
                now = ", ".join(f"{key}={info.get(key)}" for key in differ)
                raise ParameterError(
                    "out",
                    f"{self.path.parent / name} was built with {was}; this run has {now}: "
                    "use another output folder or delete that folder",
                )


def now() -> str:
    """UTC timestamp in ISO 8601, seconds resolution."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment() -> dict[str, str]:
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


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
