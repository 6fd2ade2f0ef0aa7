"""Retrieval metrics (R@K, r_mean, mAP) and embedding geometry, accumulated batch by batch.

Relevance is by groups: a gallery item is relevant to a query when their group ids match
(benchmark.md "Metrics"). Per batch only the (B, N) scores of that batch exist; what is kept
is O(number of queries): each query's best rank and average precision, and the query
embeddings for the geometry.

Ranks are 0-based: a relevant item's rank counts the gallery items scoring strictly higher
plus the non-relevant items scoring exactly the same (ties count against the query, so a
degenerate model that scores everything equally gets R@1 = 0, not 100).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from qshift.gallery import TopK

KS = (1, 5, 10)


class GroupIndex:
    """For each group id, the gallery indices that carry it (padded lookups per batch)."""

    def __init__(self, gallery_groups: np.ndarray | torch.Tensor):
        groups = torch.as_tensor(np.asarray(gallery_groups), dtype=torch.long)
        order = torch.sort(groups, stable=True).indices
        sorted_groups = groups[order]
        unique, counts = torch.unique_consecutive(sorted_groups, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        self.order = order
        self.members = {
            int(g): (int(s), int(c))
            for g, s, c in zip(unique.tolist(), starts.tolist(), counts.tolist(), strict=True)
        }

    def relevant(self, query_groups: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded (B, R) gallery indices of each query's relevant items and a validity mask."""
        spans = [self.members.get(int(g), (0, 0)) for g in query_groups]
        width = max(1, max(c for _, c in spans))
        index = torch.zeros(len(spans), width, dtype=torch.long)
        valid = torch.zeros(len(spans), width, dtype=torch.bool)
        for row, (start, size) in enumerate(spans):
            index[row, :size] = self.order[start : start + size]
            valid[row, :size] = True
        return index, valid


def ranks_and_ap(
    scores: torch.Tensor, relevant: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best rank and average precision per query from its (B, N) scores.

    ``relevant``/``valid``: padded (B, R) relevant gallery indices. Queries with no relevant
    item get rank N and AP 0.
    """
    scores = scores.float()
    relevant = relevant.to(scores.device)
    valid = valid.to(scores.device)
    rel_scores = scores.gather(1, relevant)
    rows, cols = torch.nonzero(valid, as_tuple=True)
    is_relevant = torch.zeros_like(scores, dtype=torch.bool)
    is_relevant[rows, relevant[rows, cols]] = True
    # rank of a relevant item = items scoring higher + non-relevant items tied with it
    item_ranks = torch.stack(
        [
            (scores > rel_scores[:, r : r + 1]).sum(dim=1)
            + ((scores == rel_scores[:, r : r + 1]) & ~is_relevant).sum(dim=1)
            for r in range(relevant.shape[1])
        ],
        dim=1,
    )
    item_ranks = torch.where(valid, item_ranks, torch.full_like(item_ranks, scores.shape[1]))
    sorted_ranks = item_ranks.sort(dim=1).values
    n_rel = valid.sum(dim=1)
    position = torch.arange(1, relevant.shape[1] + 1, device=scores.device)[None].expand_as(sorted_ranks)
    in_range = position <= n_rel[:, None]
    # relevant items tied with each other still occupy consecutive positions
    placed = torch.maximum(sorted_ranks, position - 1)
    precision = torch.where(in_range, position / (placed + 1).float(), torch.zeros(()))
    ap = precision.sum(dim=1) / n_rel.clamp_min(1)
    best = sorted_ranks[:, 0]
    return best.cpu(), ap.cpu()


class RankAccumulator:
    """Per-query best ranks and APs, batch by batch, and the percentages they give."""

    def __init__(self) -> None:
        self.best_ranks: list[torch.Tensor] = []
        self.aps: list[torch.Tensor] = []

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.best_ranks)

    def compute(self) -> dict[str, float]:
        """R@1, R@5, R@10, r_mean and mAP in percent."""
        if not self.best_ranks:
            raise ValueError("no batches were scored")
        ranks = torch.cat(self.best_ranks)
        out = {f"r{k}": 100.0 * float((ranks < k).double().mean()) for k in KS}
        out["r_mean"] = sum(out[f"r{k}"] for k in KS) / len(KS)
        out["map"] = 100.0 * float(torch.cat(self.aps).double().mean())
        return out


class RetrievalMetrics(RankAccumulator):
    """Streaming R@1/5/10, r_mean and mAP over a stream of (scores, query groups) batches."""

    def __init__(self, gallery_groups: np.ndarray | torch.Tensor):
        super().__init__()
        self.index = GroupIndex(gallery_groups)
        self.gallery_size = len(np.asarray(gallery_groups))

    def update(self, scores: torch.Tensor, query_groups: Sequence[int]) -> torch.Tensor:
        """Add one batch; returns the batch's best ranks."""
        if scores.shape != (len(query_groups), self.gallery_size):
            raise ValueError(
                f"scores of shape {tuple(scores.shape)} do not match {len(query_groups)} queries "
                f"× {self.gallery_size} gallery items"
            )
        relevant, valid = self.index.relevant(query_groups)
        best, ap = ranks_and_ap(scores, relevant, valid)
        self.best_ranks.append(best)
        self.aps.append(ap)
        return best


class TopKMetrics(RankAccumulator):
    """Streaming R@1/5/10, r_mean and mAP@k from each query's top-k (scores, indices).

    A relevant item's rank counts, as :class:`~qshift.metrics.RetrievalMetrics` does over the
    whole gallery, the items scoring higher plus the non-relevant items tied with it (only
    those in the top-k are seen); a query none of whose relevant items is in its top-k gets
    rank k, so R@K is exact for K <= k. AP@k sums the precision at each relevant item found in
    the top-k and divides by min(#relevant, k).
    """

    def __init__(self, gallery_groups: np.ndarray | torch.Tensor):
        self.groups = torch.as_tensor(np.asarray(gallery_groups), dtype=torch.long)
        values, counts = torch.unique(self.groups, return_counts=True)
        self.group_sizes = dict(zip(values.tolist(), counts.tolist(), strict=True))
        super().__init__()

    def update(self, found: TopK, query_groups: np.ndarray) -> torch.Tensor:
        """Add one batch; returns the batch's best ranks (k for queries with no hit)."""
        values, indices = found.values.float().cpu(), found.indices.cpu()
        if values.shape[0] != len(query_groups):
            raise ValueError(f"top-k of {values.shape[0]} queries do not match {len(query_groups)} queries")
        k = values.shape[1]
        if k < max(KS):
            raise ValueError(f"top-k metrics need k >= {max(KS)}, got k = {k}")
        wanted = torch.as_tensor(np.asarray(query_groups), dtype=torch.long)[:, None]
        relevant = (indices >= 0) & (self.groups[indices.clamp_min(0)] == wanted)
        # [b, j, i]: listed item i scores above listed item j, or ties with it and is not relevant
        above = values[:, None, :] > values[:, :, None]
        tied = (values[:, None, :] == values[:, :, None]) & ~relevant[:, None, :]
        ranks = (above | tied).sum(dim=2)
        ranks = torch.where(relevant, ranks, torch.full_like(ranks, k)).sort(dim=1).values
        position = torch.arange(1, k + 1)[None]
        placed = torch.maximum(ranks, position - 1)  # relevant items tied together take turns
        precision = torch.where(ranks < k, position / (placed + 1).float(), torch.zeros(()))
        totals = torch.tensor([min(self.group_sizes.get(int(g), 0), k) for g in wanted[:, 0]])
        self.best_ranks.append(ranks[:, 0])
        self.aps.append(precision.sum(dim=1) / totals.clamp_min(1))
        return ranks[:, 0]


def recall_at(ranks: torch.Tensor, k: int) -> float:
    """Percent of ``ranks`` below ``k``."""
    return 100.0 * float((ranks < k).float().mean()) if len(ranks) else float("nan")


def top1_both_ways(
    similarity: torch.Tensor, image_groups: np.ndarray | torch.Tensor, text_groups: np.ndarray | torch.Tensor
) -> tuple[float, float]:
    """Full-matrix R@1 in percent (i2t, t2i) of an (images, texts) similarity, by argmax.

    For whole-split checks (pretraining, recipe comparisons); an exact tie goes to the first
    index, unlike :func:`ranks_and_ap`, which counts ties against the query.
    """
    image_groups, text_groups = torch.as_tensor(image_groups), torch.as_tensor(text_groups)
    i2t = (text_groups[similarity.argmax(dim=1)] == image_groups).float().mean()
    t2i = (image_groups[similarity.argmax(dim=0)] == text_groups).float().mean()
    return 100.0 * float(i2t), 100.0 * float(t2i)


class Geometry:
    """Query uniformity (mean distance to the query centroid) and the modality gap.

    Uniformity needs the centroid of all queries, so the (normalised) query embeddings are
    kept: O(N_query × d), never O(N_query × N_gallery).
    """

    def __init__(self, gallery_centroid: torch.Tensor):
        self.gallery_centroid = gallery_centroid.float().cpu()
        self.chunks: list[torch.Tensor] = []

    def update(self, embeddings: torch.Tensor) -> None:
        self.chunks.append(embeddings.detach().float().cpu())

    def compute(self) -> dict[str, float]:
        """``uniformity`` and ``gap`` of the queries seen so far."""
        z = torch.nn.functional.normalize(torch.cat(self.chunks), dim=-1)
        centroid = z.mean(dim=0)
        return {
            "uniformity": float(torch.linalg.vector_norm(z - centroid, dim=1).mean()),
            "gap": float(torch.linalg.vector_norm(centroid - self.gallery_centroid)),
        }
