"""Retrieval backbones; :func:`load_encoder` picks the registered loader from the spec's prefix.

Backends are imported lazily: ``import qshift`` stays fast and optional extras (open_clip)
are only needed when asked for.
"""

from __future__ import annotations

import torch

from qshift import registry
from qshift.encoders.base import DualEncoder, RetrievalModel

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch.device; None picks CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"bad device {device!r}: {err}") from err


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``precision`` on ``device``; None means plain float32.

    "auto" is bf16 on CUDA devices that support it, else float32; the CPU always runs float32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if precision == "bf16" else torch.float16


def load_encoder(
    spec: str, device: str | torch.device | None = None, precision: str = "auto"
) -> RetrievalModel:
    """Load the encoder named by ``spec`` onto ``device``; the spec's prefix picks the registered loader.

    ``precision`` (auto/fp32/bf16/fp16) sets the autocast dtype of the Hugging Face and
    open_clip towers on CUDA; the scenes model always runs in float32.
    """
    kind = spec.partition(":")[0]
    if kind not in registry.names("encoder"):
        forms = ", ".join(e.form or e.name for e in registry.entries("encoder"))
        raise ValueError(f"unknown encoder spec {spec!r}; expected one of: {forms}")
    target = resolve_device(device)
    resolve_precision(precision, target)
    return registry.load("encoder", kind)(spec, device=target, precision=precision)


def __getattr__(name: str) -> dict[str, str]:
    """``ENCODERS``: spec form → one-line doc, read from the registry."""
    if name == "ENCODERS":
        return {e.form or e.name: e.doc for e in registry.entries("encoder")}
    raise AttributeError(f"module 'qshift.encoders' has no attribute {name!r}")


__all__ = [
    "ENCODERS",
    "PRECISIONS",
    "DualEncoder",
    "RetrievalModel",
    "load_encoder",
    "resolve_device",
    "resolve_precision",
]
