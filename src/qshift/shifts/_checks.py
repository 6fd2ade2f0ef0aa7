"""Argument checks shared by the audio and video shifts; each failure is a ValueError naming it."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_severity(name: str, severity: int) -> int:
    """``severity`` as an int, if it is an integer in 1..5."""
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise ValueError(f"severity of {name} must be an integer in 1..5, got {severity!r}")
    return int(severity)


def check_seed(name: str, seed: int) -> int:
    """``seed`` as an int, if it is a non-negative integer (what ``np.random.default_rng`` takes)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed of {name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_options(name: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``options``; an option that ``name`` does not take is an error."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        valid = ", ".join(defaults) or "none"
        raise ValueError(f"{name} takes no option {', '.join(unknown)}; its options: {valid}")
    return {**defaults, **options}
