"""Retrieval metrics (R@K, r_mean, mAP) and embedding geometry, accumulated batch by batch.

Relevance is by groups: a gallery item is relevant to a query when their group ids match
(benchmark.md "Metrics"). Per batch only the (B, N) scores of that batch exist; what is kept
is O(number of queries): each query's best rank and average precision, and the query
embeddings for the geometry.

Ranks are 0-based: a relevant item's rank counts the gallery items scoring strictly higher
plus the non-relevant items scoring exactly the same (ties count against the query, so a
degenerate model that scores everything equally gets R@1 = 0, not 100).

Besides the extra metric names (:data:`EXTRA_FORMS`), a dataset may define metrics from others
(:data:`DEFINED_FORMS`), so a protocol's per-category numbers and summaries come out of the same
accumulator: ``r10_dress=r10[0:3817]`` is R@10 over the queries whose first relevant group lies
in [0, 3817) (a stratum of queries, e.g. one FashionIQ category, whose gallery items carry the
groups 0…3816), and ``average=mean(r10_mean,r50_mean)`` the mean of metrics computed before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from qshift.gallery import TopK

KS = (1, 5, 10)
#: forms of the extra metrics a dataset may ask for (``dataset.metrics``)
EXTRA_FORMS = ("r<K>", "rsub<K>", "map@<K>", "medr")


def parse_extra(name: str) -> tuple[str, int]:
    """(``r`` | ``rsub`` | ``map@`` | ``medr``, K) of an extra metric name; ValueError otherwise."""
    for prefix in ("rsub", "map@", "r"):
        if name.startswith(prefix) and name[len(prefix) :].isdigit() and int(name[len(prefix) :]) > 0:
            return prefix, int(name[len(prefix) :])
    if name == "medr":
        return "medr", 0
    raise ValueError(f"unknown metric {name!r}; extra metrics take the forms {', '.join(EXTRA_FORMS)}")


#: forms of the metrics a dataset may define from others (``dataset.metrics``)
DEFINED_FORMS = ("<key>=<metric>[<lo>:<hi>]", "<key>=mean(<metric>,...)")
#: the metrics every accumulator computes, which definitions may refer to
CORE = ("r1", "r5", "r10", "r_mean", "map")
_DEFINED = re.compile(
    r"(?P<key>[A-Za-z_][\w@]*)=(?:mean\((?P<parts>[\w@,]+)\)|(?P<base>[\w@]+)\[(?P<lo>\d+):(?P<hi>\d+)\])"
)


@dataclass(frozen=True)
class Defined:
    """A metric defined from others: ``base`` over the queries of a group stratum, or a mean."""

    key: str
    #: stratum: the metric computed (``r10``, ``map@10``, ``map``, …) and the groups [lo, hi)
    base: str | None = None
    lo: int = 0
    hi: int = 0
    #: mean: the metrics averaged
    parts: tuple[str, ...] = ()


def parse_defined(name: str) -> Defined:
    """A :data:`DEFINED_FORMS` definition; ValueError naming the definition otherwise."""
    found = _DEFINED.fullmatch(name)
    if found is None:
        forms = ", ".join(DEFINED_FORMS)
        raise ValueError(f"bad metric definition {name!r}; definitions take the forms {forms}")
    key = found["key"]
    if key in CORE or _is_extra(key):
        raise ValueError(f"metric definition {name!r} redefines the metric {key!r}")
    if found["parts"] is not None:
        return Defined(key, parts=tuple(found["parts"].split(",")))
    if found["base"] != "map":
        parse_extra(found["base"])
    lo, hi = int(found["lo"]), int(found["hi"])
    if hi <= lo:
        raise ValueError(f"metric definition {name!r}: the group range [{lo}:{hi}] is empty")
    return Defined(key, base=found["base"], lo=lo, hi=hi)


def _is_extra(name: str) -> bool:
    try:
        parse_extra(name)
    except ValueError:
        return False
    return True


def _query_group_lists(query_groups: Any) -> list[list[int]]:
    """Each query's group ids as a list (one id, or several for a multi-ground-truth query)."""
    return [[int(g) for g in np.atleast_1d(np.asarray(entry))] for entry in query_groups]


class GroupIndex:
    """For each group id, the gallery indices that carry it (padded lookups per batch)."""

    def __init__(self, gallery_groups: np.ndarray | torch.Tensor):
        groups = torch.as_tensor(np.asarray(gallery_groups), dtype=torch.long)
        if groups.dim() != 1:
            raise ValueError("gallery items must carry one group each")
        order = torch.sort(groups, stable=True).indices
        sorted_groups = groups[order]
        unique, counts = torch.unique_consecutive(sorted_groups, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        self.order = order
        self.members = {
            int(g): (int(s), int(c))
            for g, s, c in zip(unique.tolist(), starts.tolist(), counts.tolist(), strict=True)
        }

    def members_of(self, groups: Sequence[int]) -> torch.Tensor:
        """Gallery indices carrying any of ``groups``."""
        spans = [self.members.get(g, (0, 0)) for g in dict.fromkeys(groups)]
        parts = [self.order[start : start + size] for start, size in spans if size]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)

    def relevant(self, query_groups: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded (B, R) gallery indices of each query's relevant items and a validity mask.

        ``query_groups`` holds one group id per query, or a sequence of ids per query.
        """
        found = [self.members_of(groups) for groups in _query_group_lists(query_groups)]
        width = max(1, max(len(f) for f in found))
        index = torch.zeros(len(found), width, dtype=torch.long)
        valid = torch.zeros(len(found), width, dtype=torch.bool)
        for row, members in enumerate(found):
            index[row, : len(members)] = members
            valid[row, : len(members)] = True
        return index, valid


def _item_ranks(
    scores: torch.Tensor, relevant: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sorted ranks of each query's relevant items, their placed positions), both (B, R).

    A relevant item's rank counts the items scoring higher plus the non-relevant items tied
    with it; invalid (padding) entries get rank N. Relevant items tied with each other still
    occupy consecutive positions (``placed``).
    """
    scores = scores.float()
    relevant = relevant.to(scores.device)
    valid = valid.to(scores.device)
    rel_scores = scores.gather(1, relevant)
    rows, cols = torch.nonzero(valid, as_tuple=True)
    is_relevant = torch.zeros_like(scores, dtype=torch.bool)
    is_relevant[rows, relevant[rows, cols]] = True
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
    position = torch.arange(1, relevant.shape[1] + 1, device=scores.device)[None].expand_as(sorted_ranks)
    return sorted_ranks, torch.maximum(sorted_ranks, position - 1)


def _average_precision(placed: torch.Tensor, n_rel: torch.Tensor, cutoff: int | None) -> torch.Tensor:
    """AP per query from the placed positions of its relevant items; AP@K with a ``cutoff``.

    AP@K = Σ_{i ≤ K} Prec@i · rel_i / min(#relevant, K) (CIRCO's definition); plain AP divides
    by #relevant.
    """
    position = torch.arange(1, placed.shape[1] + 1, device=placed.device)[None].expand_as(placed)
    counted = position <= n_rel[:, None]
    if cutoff is not None:
        counted &= placed < cutoff
    precision = torch.where(counted, position / (placed + 1).float(), torch.zeros((), device=placed.device))
    denominator = n_rel if cutoff is None else n_rel.clamp(max=cutoff)
    return precision.sum(dim=1) / denominator.clamp_min(1)


def ranks_and_ap(
    scores: torch.Tensor, relevant: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best rank and average precision per query from its (B, N) scores.

    ``relevant``/``valid``: padded (B, R) relevant gallery indices. Queries with no relevant
    item get rank N and AP 0.
    """
    sorted_ranks, placed = _item_ranks(scores, relevant, valid)
    ap = _average_precision(placed, valid.to(placed.device).sum(dim=1), None)
    return sorted_ranks[:, 0].cpu(), ap.cpu()


def subset_ranks(
    scores: torch.Tensor, subsets: Sequence[np.ndarray], relevant_sets: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Each query's best rank inside its candidate subset (CIRR's Recall_subset).

    The rank counts the subset's non-relevant members scoring at least as high as the best
    relevant member; a query without a relevant member in its subset gets the subset's size.
    """
    out = torch.empty(len(subsets), dtype=torch.long)
    for row, (subset, relevant) in enumerate(zip(subsets, relevant_sets, strict=True)):
        members = torch.as_tensor(np.asarray(subset, dtype=np.int64))
        row_scores = scores[row].float().cpu()[members]
        hit = torch.isin(members, relevant.cpu())
        if not hit.any():
            out[row] = len(members)
            continue
        best = row_scores[hit].max()
        out[row] = int(((row_scores >= best) & ~hit).sum())
    return out


class RankAccumulator:
    """Per-query best ranks and APs, batch by batch, and the percentages they give.

    ``extra`` names further metrics (:data:`EXTRA_FORMS`): R@K for any K, Recall_subset@K
    (needs candidate subsets in :meth:`update`), mAP@K and the median rank; and metrics defined
    from those (:data:`DEFINED_FORMS`), computed in the order given.
    """

    def __init__(self, extra: Sequence[str] = ()) -> None:
        self.extra = tuple(extra)
        self.plain = [name for name in self.extra if "=" not in name]
        self.parsed = [parse_extra(name) for name in self.plain]
        self.defined = [parse_defined(name) for name in self.extra if "=" in name]
        known = [*CORE, *self.plain]
        for definition in self.defined:
            missing = [p for p in definition.parts if p not in known]
            if missing:
                raise ValueError(
                    f"metric {definition.key!r} averages {', '.join(missing)}, not computed before it"
                )
            known.append(definition.key)
        bases = [parse_extra(d.base) for d in self.defined if d.base not in (None, "map")]
        self.kinds = self.parsed + bases
        self.map_cutoffs = sorted({k for kind, k in self.kinds if kind == "map@"})
        self.best_ranks: list[torch.Tensor] = []
        self.aps: list[torch.Tensor] = []
        self.aps_at: dict[int, list[torch.Tensor]] = {k: [] for k in self.map_cutoffs}
        self.subset_ranks: list[torch.Tensor] = []
        #: each query's first group (-1: none), which places it in a defined metric's stratum
        self.first_groups: list[torch.Tensor] = []

    @property
    def needs_subsets(self) -> bool:
        return any(kind == "rsub" for kind, _ in self.kinds)

    def remember(self, query_groups: Any) -> None:
        """Keep each query's first group for the strata of the defined metrics."""
        self.first_groups.append(torch.tensor([g[0] if g else -1 for g in _query_group_lists(query_groups)]))

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.best_ranks)

    def compute(self) -> dict[str, float]:
        """R@1, R@5, R@10, r_mean and mAP in percent, then the extra and the defined metrics.

        A defined metric over a stratum without queries is NaN.
        """
        if not self.best_ranks:
            raise ValueError("no batches were scored")
        out = {f"r{k}": self._value("r", k, None) for k in KS}
        out["r_mean"] = sum(out[f"r{k}"] for k in KS) / len(KS)
        out["map"] = self._value("map", 0, None)
        for name, (kind, k) in zip(self.plain, self.parsed, strict=True):
            out[name] = self._value(kind, k, None)
        first = torch.cat(self.first_groups) if self.defined else None
        for definition in self.defined:
            if definition.parts:
                out[definition.key] = sum(out[p] for p in definition.parts) / len(definition.parts)
                continue
            assert first is not None and definition.base is not None
            kind, k = ("map", 0) if definition.base == "map" else parse_extra(definition.base)
            rows = (first >= definition.lo) & (first < definition.hi)
            out[definition.key] = self._value(kind, k, rows) if rows.any() else math.nan
        return out

    def _value(self, kind: str, k: int, rows: torch.Tensor | None) -> float:
        """Metric ``kind``/``k`` (a :func:`parse_extra` pair, or ``map``) over the queries at ``rows``."""

        def kept(chunks: list[torch.Tensor]) -> torch.Tensor:
            values = torch.cat(chunks)
            return values if rows is None else values[rows]

        if kind == "map":
            return 100.0 * float(kept(self.aps).double().mean())
        if kind == "r":
            return 100.0 * float((kept(self.best_ranks) < k).double().mean())
        if kind == "rsub":
            return 100.0 * float((kept(self.subset_ranks) < k).double().mean())
        if kind == "map@":
            return 100.0 * float(kept(self.aps_at[k]).double().mean())
        return float((kept(self.best_ranks).double() + 1).median())


class RetrievalMetrics(RankAccumulator):
    """Streaming R@1/5/10, r_mean, mAP (and extra metrics) over (scores, query groups) batches."""

    def __init__(self, gallery_groups: np.ndarray | torch.Tensor, extra: Sequence[str] = ()):
        super().__init__(extra)
        self.index = GroupIndex(gallery_groups)
        self.gallery_size = len(np.asarray(gallery_groups))

    def update(
        self, scores: torch.Tensor, query_groups: Any, subsets: Sequence[np.ndarray] | None = None
    ) -> torch.Tensor:
        """Add one batch; returns the batch's best ranks."""
        if scores.shape != (len(query_groups), self.gallery_size):
            raise ValueError(
                f"scores of shape {tuple(scores.shape)} do not match {len(query_groups)} queries "
                f"× {self.gallery_size} gallery items"
            )
        relevant, valid = self.index.relevant(query_groups)
        self.remember(query_groups)
        sorted_ranks, placed = _item_ranks(scores, relevant, valid)
        n_rel = valid.to(placed.device).sum(dim=1)
        self.best_ranks.append(sorted_ranks[:, 0].cpu())
        self.aps.append(_average_precision(placed, n_rel, None).cpu())
        for k in self.map_cutoffs:
            self.aps_at[k].append(_average_precision(placed, n_rel, k).cpu())
        if self.needs_subsets:
            if subsets is None:
                raise ValueError("Recall_subset needs each query's candidate subset")
            relevant_sets = [relevant[row][valid[row]] for row in range(len(relevant))]
            self.subset_ranks.append(subset_ranks(scores, subsets, relevant_sets))
        return self.best_ranks[-1]


class TopKMetrics(RankAccumulator):
    """Streaming R@1/5/10, r_mean and mAP@k from each query's top-k (scores, indices).

    A relevant item's rank counts, as :class:`~qshift.metrics.RetrievalMetrics` does over the
    whole gallery, the items scoring higher plus the non-relevant items tied with it (only
    those in the top-k are seen); a query none of whose relevant items is in its top-k gets
    rank k, so R@K is exact for K <= k. AP@k sums the precision at each relevant item found in
    the top-k and divides by min(#relevant, k). Candidate subsets need dense scores.
    """

    def __init__(self, gallery_groups: np.ndarray | torch.Tensor, extra: Sequence[str] = ()):
        self.groups = torch.as_tensor(np.asarray(gallery_groups), dtype=torch.long)
        values, counts = torch.unique(self.groups, return_counts=True)
        self.group_sizes = dict(zip(values.tolist(), counts.tolist(), strict=True))
        super().__init__(extra)
        if self.needs_subsets:
            raise ValueError("Recall_subset needs dense scores; record dense scores for this dataset")

    def update(
        self, found: TopK, query_groups: Any, subsets: Sequence[np.ndarray] | None = None
    ) -> torch.Tensor:
        """Add one batch; returns the batch's best ranks (k for queries with no hit)."""
        values, indices = found.values.float().cpu(), found.indices.cpu()
        if values.shape[0] != len(query_groups):
            raise ValueError(f"top-k of {values.shape[0]} queries do not match {len(query_groups)} queries")
        k = values.shape[1]
        if k < max(KS):
            raise ValueError(f"top-k metrics need k >= {max(KS)}, got k = {k}")
        wanted = _query_group_lists(query_groups)
        self.remember(query_groups)
        listed = self.groups[indices.clamp_min(0)]
        relevant = torch.stack(
            [torch.isin(listed[row], torch.tensor(groups)) for row, groups in enumerate(wanted)]
        ) & (indices >= 0)
        # [b, j, i]: listed item i scores above listed item j, or ties with it and is not relevant
        above = values[:, None, :] > values[:, :, None]
        tied = (values[:, None, :] == values[:, :, None]) & ~relevant[:, None, :]
        ranks = (above | tied).sum(dim=2)
        ranks = torch.where(relevant, ranks, torch.full_like(ranks, k)).sort(dim=1).values
        placed = torch.maximum(ranks, torch.arange(k)[None])  # relevant items tied together take turns
        totals = torch.tensor([min(sum(self.group_sizes.get(g, 0) for g in set(gs)), k) for gs in wanted])
        self.best_ranks.append(ranks[:, 0])
        self.aps.append(_average_precision(placed, totals, k))
        for cutoff in self.map_cutoffs:
            self.aps_at[cutoff].append(_average_precision(placed, totals, min(cutoff, k)))
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
