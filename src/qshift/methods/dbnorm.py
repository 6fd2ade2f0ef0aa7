"""``dbnorm``: dual bank normalisation (Wang, Jian and Xue, "Balance Act: Mitigating Hubness in
Cross-Modal Retrieval with Query and Gallery Banks", EMNLP 2023, arXiv 2310.11612).

Hubs are close to many queries *and* to many gallery-side items. DBNorm's dual inverted
softmax divides each similarity by both banks' pull on the gallery item:
s′(q, j) = [exp(β₁ s(q, j)) / Σ_{b ∈ query bank} exp(β₁ s(b, j))]
         · [exp(β₂ s(q, j)) / Σ_{h ∈ gallery bank} exp(β₂ s(h, j))].
The dual *dynamic* inverted softmax (the default) applies each factor's normaliser only to the
queries whose nearest gallery item lies in that bank's activation set (the items that are the
nearest neighbour of some bank member), like QB-Norm's.

The query bank is the stream's earlier batches, as in :mod:`qshift.methods.qbnorm`. The gallery bank is
the gallery: it is clean under a query shift and fixed, so its normaliser is computed once
(each item's similarity to itself left out). The paper draws both banks from training data;
here nothing beyond the model ships.

Recorded scores are log-domain: (β₁ + β₂) s minus the normalisers that apply. No gradient; as
a post transform (``post="dbnorm"``) it stacks on any method.
"""

from __future__ import annotations

from typing import Any

import torch

from qshift.gallery import Gallery
from qshift.methods.base import Adapter, Objective
from qshift.methods.post import PostSpec, post_items
from qshift.methods.qbnorm import QBNormTransform
from qshift.methods.source_stats import SourceStats


@torch.no_grad()
def gallery_bank(gallery: Gallery, beta: float, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The gallery as its own bank: (N,) log Σ_{h ≠ j} exp(β s(h, j)) and the activation set."""
    n = gallery.size
    log_norm = torch.full((n,), float("-inf"), dtype=torch.float64, device=gallery.device)
    active = torch.zeros(n, dtype=torch.bool, device=gallery.device)
    for start in range(0, n, chunk):
        rows = gallery.embeddings[start : start + chunk].float()
        sims = rows @ gallery.embeddings.float().T  # gallery against itself: no query's exclusions
        own = torch.arange(start, start + len(rows), device=gallery.device)
        sims[torch.arange(len(rows)), own] = float("-inf")
        log_norm = torch.logaddexp(log_norm, torch.logsumexp(beta * sims.double(), dim=0))
        active[sims.argmax(dim=1)] = True
    return log_norm, active


class DBNormTransform(QBNormTransform):
    """Dual (dynamic) inverted softmax: QB-Norm's stream bank plus a gallery bank."""

    def __init__(
        self,
        stats: SourceStats | None = None,
        beta_query: float = 20.0,
        beta_gallery: float = 20.0,
        dynamic: bool = True,
    ):
        if not beta_gallery > 0:
            raise ValueError(f"beta_gallery must be > 0, got {beta_gallery}")
        super().__init__(stats, beta_query, dynamic)
        self.beta_gallery = beta_gallery
        self._gallery: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (key, norm, active)

    def gallery_normaliser(self, gallery: Gallery, scores: torch.Tensor) -> torch.Tensor:
        """(B, N) gallery-bank log-normalisers for ``scores`` (0 where the dynamic rule skips)."""
        if self._gallery is None or self._gallery[0] is not gallery.embeddings:
            self._gallery = (gallery.embeddings, *gallery_bank(gallery, self.beta_gallery))
        _, log_norm, active = self._gallery
        norm = log_norm.to(scores.dtype).expand_as(scores)
        if not self.dynamic:
            return norm
        return norm * active[scores.argmax(dim=1)][:, None].to(scores.dtype)

    def __call__(self, z: torch.Tensor, gallery: Gallery) -> tuple[torch.Tensor, torch.Tensor]:
        scores = gallery.scores(z.detach()).float()
        betas = self.bank.beta + self.beta_gallery
        out = betas * scores - self.bank.normaliser(scores, self.dynamic)
        self.bank.add(scores)
        return z, out - self.gallery_normaliser(gallery, scores)


class DBNorm(Adapter):
    """The source model's scores, normalised by the stream's and the gallery's banks."""

    name = "dbnorm"
    trains = False
    nearest_only = True

    def __init__(
        self,
        *args: Any,
        beta_query: float = 20.0,
        beta_gallery: float = 20.0,
        dynamic: bool = True,
        post: PostSpec = None,
        **kwargs: Any,
    ):
        own = ("dbnorm", {"beta_query": beta_query, "beta_gallery": beta_gallery, "dynamic": dynamic})
        super().__init__(*args, post=[*post_items(post), own], **kwargs)

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        return None, self.gallery.scores(z).detach()
