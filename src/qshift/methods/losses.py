"""Small loss helpers shared by the methods."""

from __future__ import annotations

import math

import torch


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (natural log) of the softmax of each row of ``logits``."""
    log_p = logits.log_softmax(dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def count(fraction: float, total: int) -> int:
    """⌊fraction · total⌋, the selection size rule of method.md (may be 0: callers guard)."""
    return int(math.floor(fraction * total + 1e-9))


def lowest(values: torch.Tensor, fraction: float) -> torch.Tensor:
    """Indices of the ⌊fraction · n⌋ smallest ``values`` (detached); empty when that count is 0."""
    k = count(fraction, len(values))
    return values.detach().topk(k, largest=False).indices
