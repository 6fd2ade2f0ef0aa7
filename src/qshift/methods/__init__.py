"""Adaptation methods: ``build(name, encoder, gallery, **hparams)`` and ``names()``.

Each method is one file with one :class:`~qshift.methods.base.Adapter` subclass; adding a
method is that file plus one line in ``_REGISTRY`` ("module:Class").
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import torch
from torch import nn

from qshift.gallery import Gallery
from qshift.methods.base import Adapter

__all__ = ["Adapter", "build", "get", "hparam_names", "names"]

_REGISTRY: dict[str, str] = {
    "source": "qshift.methods.source:Source",
    "tent": "qshift.methods.tent:Tent",
    "eata": "qshift.methods.eata:Eata",
    "sar": "qshift.methods.sar:Sar",
    "read": "qshift.methods.read:Read",
    "deyo": "qshift.methods.deyo:Deyo",
    "shot": "qshift.methods.shot:Shot",
    "tcr": "qshift.methods.tcr:TCR",
    "tcr-free": "qshift.methods.tcr_free:TCRFree",
    "tcr-gd": "qshift.methods.tcr_gd:TCRGradientDecoupling",
    "recenter": "qshift.methods.recenter:Recenter",
    "qbnorm": "qshift.methods.qbnorm:QBNorm",
    "dbnorm": "qshift.methods.dbnorm:DBNorm",
    "align": "qshift.methods.align:Align",
    "qshift": "qshift.methods.qshift:QShift",
}


def names() -> list[str]:
    """Registered method names, in registry order."""
    return list(_REGISTRY)


def get(name: str) -> type[Adapter]:
    """The Adapter class registered as ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(_REGISTRY)}")
    module, _, cls = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


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
