"""``smooth``: let each gallery item's score borrow from its nearest gallery neighbours.

A gallery often holds several items for one target (five captions per image in COCO and
``scenes``), each describing part of it. A shifted query's similarity to any single one of them
is noisy; items that describe the same thing sit close together in the gallery, so adding to
each item's score the weighted mean score of its k nearest gallery neighbours lets agreeing
items vote: s′(q, i) = s(q, i) + α Σ_j w_ij s(q, j), with w_ij the non-negative cosine
similarities of item i to its k nearest other items, normalised to sum to one. This is one
step of the graph diffusion used to re-rank retrieval results (Zhou et al., NIPS 2003; Iscen
et al., CVPR 2017), on the gallery's own k-NN graph, built once per gallery.

It works on the scores it is given: after a score-level transform (``post=["recenter",
["qbnorm", {"beta": 10}], ["smooth", {"k": 4}]]``) it smooths the normalised scores. No stream
state, no gradient; the cost per batch is a gather of k scores per gallery item. Gallery items a
query may not rank (a composed query's reference image) neither vote nor change.
"""

from __future__ import annotations

import torch

from qshift.gallery import Gallery, MaskedGallery
from qshift.methods.post import ScoreTransform
from qshift.methods.source_stats import SourceStats

#: gallery rows searched per block while the k-NN graph is built
GRAPH_BLOCK = 1024


class NeighbourGraph:
    """Each gallery item's k nearest other items (N, k) and their normalised weights (N, k)."""

    def __init__(self, gallery: Gallery, k: int):
        rows, weights = [], []
        embeddings = gallery.embeddings
        search = gallery.base if isinstance(gallery, MaskedGallery) else gallery  # every item
        for start in range(0, gallery.size, GRAPH_BLOCK):
            block = embeddings[start : start + GRAPH_BLOCK]
            found = search.topk(block.float(), k + 1)
            own = torch.arange(start, start + len(block), device=found.indices.device)[:, None]
            keep = found.indices != own
            # an item with exact duplicates may not find itself first: then drop the farthest
            keep[keep.all(dim=1), -1] = False
            rows.append(found.indices[keep].view(len(block), k))
            weights.append(found.values[keep].view(len(block), k).clamp_min(0))
        self.indices = torch.cat(rows)
        w = torch.cat(weights)
        self.weights = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
        self.source = embeddings


class GallerySmoothing(ScoreTransform):
    """s′ = s + α · (scores of each item's k nearest gallery neighbours, weighted)."""

    def __init__(self, stats: SourceStats | None = None, k: int = 4, alpha: float = 0.5):
        if k < 1:
            raise ValueError(f"smooth: k must be >= 1, got {k}")
        if alpha < 0:
            raise ValueError(f"smooth: alpha must be >= 0, got {alpha}")
        self.k, self.alpha = k, alpha
        self.graph: NeighbourGraph | None = None

    def neighbours(self, gallery: Gallery) -> NeighbourGraph:
        """The k-NN graph of ``gallery``, built on first use and whenever the gallery changes."""
        if self.graph is None or self.graph.source is not gallery.embeddings:
            if gallery.size <= self.k:
                raise ValueError(f"smooth: k={self.k} needs a gallery of more than {self.k} items")
            self.graph = NeighbourGraph(gallery, self.k)
        return self.graph

    def rescore(self, scores: torch.Tensor, gallery: Gallery) -> torch.Tensor:
        graph = self.neighbours(gallery)
        idx, w = graph.indices.to(scores.device), graph.weights.to(scores)
        excluded = gallery.exclusion_mask(len(scores))
        if excluded is None:
            excluded = torch.zeros_like(scores, dtype=torch.bool)
        votes = w * (~excluded)[:, idx]
        mean = (scores[:, idx] * votes).sum(dim=-1) / votes.sum(dim=-1).clamp_min(1e-12)
        return torch.where(excluded, scores, scores + self.alpha * mean)
