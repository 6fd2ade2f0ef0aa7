"""Query shifts per modality (image corruptions, text perturbations, …) and streams that mix them.

Every shift is a registry entry (kind ``shift``) of one modality: a callable
``(item, severity, seed=0, **options)``. ``names(modality)`` lists a modality's shifts;
``apply(name, item, severity, seed)`` applies one to one item deterministically from ``seed``,
dispatching on the item where a name exists for several modalities (``modality=`` forces one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qshift import registry
from qshift.shifts.spec import ShiftSpec, parse_shift

__all__ = ["ShiftSpec", "apply", "kind_of", "modality_of_item", "names", "parse_shift"]


def names(modality: str) -> list[str]:
    """The shift names of ``modality`` ("image": 16 corruptions, "text": 16 perturbations, …)."""
    found = registry.names("shift", modality)
    if not found:
        known = sorted({e.modality for e in registry.entries("shift") if e.modality})
        raise ValueError(f"no shifts for modality {modality!r}; modalities with shifts: {', '.join(known)}")
    return found


def modality_of_item(item: Any) -> str:
    """The modality an item looks like: str → text, 1-D float array → audio, H×W×3 → image,
    T×H×W×3 → video; ValueError otherwise."""
    if isinstance(item, str):
        return "text"
    array = np.asarray(item) if not isinstance(item, np.ndarray) else item
    if array.ndim == 1 and np.issubdtype(array.dtype, np.floating):
        return "audio"
    if array.ndim == 3 and array.shape[-1] == 3:
        return "image"
    if array.ndim == 4 and array.shape[-1] == 3:
        return "video"
    raise ValueError(
        f"cannot tell the modality of an item of type {type(item).__name__} and shape {array.shape}"
    )


def kind_of(name: str, item: Any = None) -> str:
    """The modality of shift ``name`` (the item's, when several modalities share the name)."""
    found = registry.modalities_of(name)
    if not found:
        raise ValueError(f"unknown shift {name!r}; see `qshift list` for the available shifts")
    if len(found) == 1:
        return found[0]
    if item is None:
        raise ValueError(f"shift {name!r} exists for {', '.join(found)}: pass the item or modality=")
    modality = modality_of_item(item)
    if modality not in found:
        raise ValueError(f"shift {name!r} exists for {', '.join(found)}, not for a {modality} item")
    return modality


def apply(
    name: str, item: Any, severity: int, seed: int = 0, *, modality: str | None = None, **options: Any
) -> Any:
    """Apply shift ``name`` at ``severity`` to one item, seeded by ``seed``."""
    chosen = modality or kind_of(name, item)
    return registry.load("shift", name, modality=chosen)(item, severity, seed, **options)
