"""qshift: test-time adaptation of cross-modal retrieval under query shift.

Public API (design.md): ``load_encoder``, ``load_dataset``, ``evaluate``, and the
sub-packages ``methods`` and ``shifts``. Heavy modules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "evaluate": ("qshift.api", "evaluate"),
    "EvalResult": ("qshift.api", "EvalResult"),
    "load_encoder": ("qshift.encoders", "load_encoder"),
    "load_dataset": ("qshift.data", "load_dataset"),
    "methods": ("qshift.methods", None),
    "shifts": ("qshift.shifts", None),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'qshift' has no attribute {name!r}")
    module, attr = _LAZY[name]
    loaded = importlib.import_module(module)
    return loaded if attr is None else getattr(loaded, attr)
