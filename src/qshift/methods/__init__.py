"""Adaptation methods: ``build(name, encoder, gallery, **hparams)`` and ``names()``.

Each method is one file with one :class:`~qshift.methods.base.Adapter` subclass; adding a
method is that file plus one line in :mod:`qshift.registry`.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from qshift import registry
from qshift.gallery import Gallery
from qshift.methods.base import Adapter

__all__ = ["Adapter", "build", "get", "hparam_names", "names"]


def names() -> list[str]:
    """Registered method names, in registry order."""
    return registry.names("method")


def get(name: str) -> type[Adapter]:
    """The Adapter class registered as ``name``."""
    return registry.load("method", name)


def hparam_names(name: str) -> set[str]:
    """Keyword hyper-parameters accepted by method ``name`` (its own and the base's)."""
    accepted: set[str] = set()
    for klass in get(name).__mro__:
        if "__init__" in vars(klass):
            params = inspect.signature(klass.__init__).parameters.values()
            accepted |= {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return accepted


def build(name: str, encoder: nn.Module, gallery: torch.Tensor | Gallery, **hparams: Any) -> Adapter:
    """Construct method ``name`` on ``encoder`` against ``gallery``; unknown hparams are errors."""
    unknown = set(hparams) - hparam_names(name)
    if unknown:
        raise ValueError(
            f"unknown hyper-parameter(s) for {name}: {', '.join(sorted(unknown))}; "
            f"accepted: {', '.join(sorted(hparam_names(name)))}"
        )
    return get(name)(encoder, gallery, **hparams)
