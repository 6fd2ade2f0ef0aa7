"""``qbnorm``: querybank normalisation with the dynamic inverted softmax (Bogolin et al., CVPR 2022).

Hubs, gallery items that are the nearest neighbour of many queries, crowd out the right
answers. QB-Norm divides each similarity by how strongly a bank of queries is drawn to that
gallery item (the inverted softmax): s′(q, j) = exp(β s(q, j)) / Σ_{b ∈ bank} exp(β s(b, j)).
The *dynamic* inverted softmax applies this only to queries whose nearest gallery item lies in
the activation set, the items that are the nearest neighbour of at least one bank query
(k = 1); the other queries keep their raw similarities. β = 20, k = 1 are the paper's
defaults.

The querybank here is the stream itself: every query of the earlier batches (the first batch
keeps its raw scores; a batch never sits in its own bank, or every query's nearest item would
be in the activation set and the dynamic rule would never skip one). The paper's bank is a
fixed set of training queries; under a query shift the stream's queries describe the shifted
distribution, and no query embeddings need to ship with the model. Since the gallery is fixed,
the bank is kept as two vectors over the gallery (the log of the normaliser and the activation
set), O(N) memory whatever the stream's length.

Recorded scores are log-domain: β s − log Σ_b exp(β s(b, j)) for normalised queries and β s
for the others (the same ranking per query as the paper's scores). No gradient; as a post
transform (``post="qbnorm"``) it stacks on any method.
"""

from __future__ import annotations

from typing import Any

import torch

from qshift.gallery import Gallery
from qshift.methods.base import Adapter, Objective
from qshift.methods.post import PostSpec, PostTransform, post_items
from qshift.methods.source_stats import SourceStats


class QueryBank:
    """The stream's queries as seen by the gallery: log Σ_b exp(β s(b, j)) and the activation set."""

    def __init__(self, beta: float):
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.beta = beta
        self.clear()

    def clear(self) -> None:
        self.log_norm: torch.Tensor | None = None  # (N,) float64
        self.active: torch.Tensor | None = None  # (N,) bool

    def add(self, scores: torch.Tensor) -> None:
        """Add the queries of a (B, N) score matrix to the bank."""
        batch = torch.logsumexp(self.beta * scores.double(), dim=0)
        nearest = scores.argmax(dim=1)
        if self.log_norm is None or self.active is None:
            self.log_norm = batch
            self.active = torch.zeros(scores.shape[1], dtype=torch.bool, device=scores.device)
        else:
            self.log_norm = torch.logaddexp(self.log_norm, batch)
        self.active[nearest] = True

    def normaliser(self, scores: torch.Tensor, dynamic: bool) -> torch.Tensor:
        """(B, N) log-normalisers to subtract: the bank's for the rows it applies to, 0 elsewhere
        (everywhere while the bank is empty)."""
        if self.log_norm is None or self.active is None:
            return torch.zeros_like(scores)
        norm = self.log_norm.to(scores.dtype).expand_as(scores)
        if not dynamic:
            return norm
        applies = self.active[scores.argmax(dim=1)]
        return norm * applies[:, None].to(scores.dtype)

    def state(self) -> dict[str, Any]:
        return {"log_norm": self.log_norm, "active": self.active}

    def load(self, state: dict[str, Any]) -> None:
        self.log_norm, self.active = state["log_norm"], state["active"]


class QBNormTransform(PostTransform):
    """Dynamic inverted softmax over the stream's querybank (module docstring)."""

    rescores = True

    def __init__(self, stats: SourceStats | None = None, beta: float = 20.0, dynamic: bool = True):
        self.bank = QueryBank(beta)
        self.dynamic = dynamic

    def reset(self) -> None:
        self.bank.clear()

    def __call__(self, z: torch.Tensor, gallery: Gallery) -> tuple[torch.Tensor, torch.Tensor]:
        scores = gallery.scores(z.detach()).float()
        out = self.bank.beta * scores - self.bank.normaliser(scores, self.dynamic)
        self.bank.add(scores)
        return z, out

    def state(self) -> dict[str, Any]:
        return self.bank.state()

    def load(self, state: dict[str, Any]) -> None:
        self.bank.load(state)


class QBNorm(Adapter):
    """The source model's scores, normalised by the stream's querybank."""

    name = "qbnorm"
    trains = False
    nearest_only = True

    def __init__(
        self, *args: Any, beta: float = 20.0, dynamic: bool = True, post: PostSpec = None, **kwargs: Any
    ):
        own = ("qbnorm", {"beta": beta, "dynamic": dynamic})
        super().__init__(*args, post=[*post_items(post), own], **kwargs)

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        return None, self.gallery.scores(z).detach()
