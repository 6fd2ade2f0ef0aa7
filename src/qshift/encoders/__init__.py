"""Retrieval backbones; :func:`load_encoder` picks the backend from the spec's prefix.

Backends are imported lazily: ``import qshift`` stays fast and optional extras (open_clip)
are only needed when asked for.
"""

from __future__ import annotations

import torch

from qshift.encoders.base import DualEncoder

#: spec forms, one line each (for ``qshift list``)
ENCODERS: dict[str, str] = {
    "scenes": "qshift's shipped source model for the scenes benchmark (MiniLM text tower + small ViT)",
    "scenes:<weights.safetensors>": "scenes weights written by `qshift pretrain scenes` (JSON beside them)",
    "hf:<dir-or-hub-id>": "Hugging Face CLIP, SigLIP or BLIP image-text retrieval checkpoint",
    "open_clip:<arch>:<checkpoint>": "open_clip model from a local checkpoint (needs qshift[open_clip])",
}
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


def load_encoder(spec: str, device: str | torch.device | None = None, precision: str = "auto") -> DualEncoder:
    """Load the encoder named by ``spec`` (see :data:`ENCODERS`) onto ``device``.

    ``precision`` (auto/fp32/bf16/fp16) sets the autocast dtype of the Hugging Face and
    open_clip towers on CUDA; the scenes model always runs in float32.
    """
    kind, _, rest = spec.partition(":")
    target = resolve_device(device)
    resolve_precision(precision, target)
    if kind == "scenes":
        from qshift.encoders.scenes import load_scenes_encoder

        return load_scenes_encoder(rest or None).to(target)
    if kind == "hf" and rest:
        from qshift.encoders.hf import load_hf_encoder

        return load_hf_encoder(rest, target, precision)
    if kind == "open_clip":
        from qshift.encoders.open_clip import load_open_clip_encoder

        arch, _, checkpoint = rest.partition(":")
        if not arch or not checkpoint:
            raise ValueError(f"bad encoder spec {spec!r}: expected open_clip:<arch>:<checkpoint-path>")
        return load_open_clip_encoder(arch, checkpoint, target, precision)
    raise ValueError(f"unknown encoder spec {spec!r}; expected one of: {', '.join(ENCODERS)}")


__all__ = ["ENCODERS", "PRECISIONS", "DualEncoder", "load_encoder", "resolve_device", "resolve_precision"]
