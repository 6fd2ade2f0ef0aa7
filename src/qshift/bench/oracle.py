"""The supervised headroom oracle: what the adapted parameters can win back, given the answers.

Not a method: it reads the true matches. It adapts exactly the parameters the methods adapt
(the normalisation affine parameters of the query tower, ``encoder.adapt_params``) on the same
shifted queries, with a supervised loss, then scores them. The gap between its R@1 and the
source model's is the *headroom* of a shift; (method − source) / (oracle − source) is the
share of it a method recovers.

Loss: the gallery softmax at temperature T, multi-positive — minus the log of the probability
mass on the query's relevant gallery items, −log Σ_{j relevant} softmax(z Gᵀ / T)_j — averaged
over a batch; AdamW over ``epochs`` passes of the query batches (batch order reshuffled each
epoch from ``seed``).

Two variants:
- ``transductive``: fit on all queries, score all of them — an upper bound, not reachable by
  any method that does not see the answers;
- ``heldout`` (the honest ceiling): 2-fold cross-fitting. A seeded permutation splits the queries
  in two halves; a model fitted on one half scores the other, both ways, so that no query is
  scored by a model fitted on it. The source model's metrics on the same halves come with it.

Gallery items a query never ranks (a composed query's reference, :attr:`RetrievalDataset.excluded`)
are masked out of its loss and its scores, as in :func:`qshift.evaluate`; the task's extra
metrics (Recall_subset, mAP@k) are computed the same way too.

The prepared query batches are held in memory across epochs. The encoder's weights (and which
of its parameters require gradients) are restored when it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from qshift.api import embed_gallery, resolve
from qshift.data.base import RetrievalDataset, per_query_rows
from qshift.data.queries import QueryBatches
from qshift.encoders.base import RetrievalModel, check_direction, move_batch
from qshift.gallery import Gallery, MaskedGallery
from qshift.methods.params import select_parameters
from qshift.metrics import GroupIndex, RetrievalMetrics
from qshift.shifts.spec import ShiftSpec, parse_shift
from qshift.shifts.streams import PlannedBatch, StreamPlan, single
from qshift.tasks import get_task

Mode = Literal["transductive", "heldout"]
Prepared = list[tuple[Any, np.ndarray, np.ndarray]]  # (prepared input, query groups, query indices)

#: oracle settings chosen on the scenes val split (docs/headroom.md)
EPOCHS = 10
LR = 1e-2
TEMPERATURE = 0.05


@dataclass
class Fold:
    """One fitted model: the queries it was fitted on and the ones it scored (dataset indices)."""

    fitted: np.ndarray
    scored: np.ndarray
    metrics: dict[str, float]
    source_metrics: dict[str, float]


@dataclass
class OracleResult:
    """The oracle's metrics over all queries (percent, as :func:`qshift.evaluate`) and the source's."""

    mode: Mode
    metrics: dict[str, float]
    source_metrics: dict[str, float]
    queries: int
    seconds: float
    folds: list[Fold] = field(default_factory=list)


def supervised_loss(
    z: torch.Tensor, gallery: Gallery, relevant: torch.Tensor, valid: torch.Tensor, temperature: float
) -> torch.Tensor | None:
    """Mean over queries of −log Σ_{relevant j} softmax(z Gᵀ / T)_j (None: no query has a match)."""
    has_match = valid.any(dim=1)
    if not has_match.any():
        return None
    log_p = (gallery.scores(z) / temperature).log_softmax(dim=1)
    picked = log_p.gather(1, relevant.to(log_p.device)).masked_fill(~valid.to(log_p.device), float("-inf"))
    return -torch.logsumexp(picked[has_match], dim=1).mean()


LossFn = Callable[[torch.Tensor, Gallery, torch.Tensor, torch.Tensor, float], "torch.Tensor | None"]


def half_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The two halves of ``range(n)`` under a seeded permutation (the first holds ⌊n/2⌋)."""
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2 :]


def prepare_part(
    queries: QueryBatches, indices: np.ndarray, spec: ShiftSpec, batch_size: int, device: torch.device
) -> Prepared:
    """The queries ``indices`` under ``spec``, shifted and encoded once, in batches of
    ``batch_size`` on ``device``: the oracle fits and scores the same tensors every epoch."""
    chunks = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    plan = StreamPlan([PlannedBatch(idx, (spec,) * len(idx), str(spec)) for idx in chunks], name=str(spec))
    return [
        (move_batch(prepared, device), groups, planned.indices)
        for planned, prepared, groups in queries.iterate(plan)
    ]


@dataclass(frozen=True)
class QueryOptions:
    """What a task attaches to each query (indexed by query): gallery items it never ranks,
    its Recall_subset candidates, and the metrics beyond R@1/5/10 and mAP."""

    excluded: Sequence[np.ndarray] | None = None
    subsets: Sequence[np.ndarray] | None = None
    extra_metrics: Sequence[str] = ()


class OracleFitter:
    """Fits and scores the query tower's adapted parameters; restores them on :meth:`restore`."""

    def __init__(
        self,
        tower: nn.Module,
        params: list[nn.Parameter],
        gallery: Gallery,
        groups: np.ndarray,
        options: QueryOptions = QueryOptions(),
    ):
        self.tower, self.params, self.gallery = tower, params, gallery
        self.gallery_groups = groups
        self.options = options
        self.index = GroupIndex(groups)
        self.source = [p.detach().clone() for p in params]

    def gallery_for(self, indices: np.ndarray) -> Gallery:
        """The gallery as the queries at ``indices`` see it (their excluded items masked)."""
        excluded = per_query_rows(self.options.excluded, indices)
        return MaskedGallery(self.gallery, excluded) if excluded is not None else self.gallery

    def metrics(self) -> RetrievalMetrics:
        return RetrievalMetrics(self.gallery_groups, self.options.extra_metrics)

    @torch.no_grad()
    def restore(self) -> None:
        for param, saved in zip(self.params, self.source, strict=True):
            param.copy_(saved)

    def fit(
        self, batches: Prepared, *, epochs: int, lr: float, weight_decay: float, temperature: float, seed: int
    ) -> None:
        optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            self.epoch(batches, optimizer, temperature, generator)

    def epoch(
        self,
        batches: Prepared,
        optimizer: torch.optim.Optimizer,
        temperature: float,
        generator: torch.Generator,
        loss_fn: LossFn = supervised_loss,
    ) -> None:
        """One pass over ``batches`` in an order drawn from ``generator``, one step per batch.
        ``loss_fn`` is :func:`supervised_loss` unless a study swaps in another."""
        self.tower.eval()
        for i in torch.randperm(len(batches), generator=generator).tolist():
            prepared, groups, indices = batches[i]
            relevant, valid = self.index.relevant(groups)
            z = F.normalize(self.tower(prepared).float(), dim=-1)
            loss = loss_fn(z, self.gallery_for(indices), relevant, valid, temperature)
            if loss is None:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def score(self, batches: Prepared, *into: RetrievalMetrics) -> dict[str, float]:
        """Score ``batches`` with the current weights; add them to every metrics object in ``into``."""
        self.tower.eval()
        own = self.metrics()
        for prepared, groups, indices in batches:
            z = F.normalize(self.tower(prepared).float(), dim=-1)
            scores = self.gallery_for(indices).scores(z)
            subsets = per_query_rows(self.options.subsets, indices)
            for metrics in (own, *into):
                metrics.update(scores, groups, subsets)
        return own.compute()


def cross_fit(
    tower: nn.Module,
    params: list[nn.Parameter],
    gallery: Gallery,
    gallery_groups: np.ndarray,
    parts: Sequence[Prepared],
    splits: Sequence[tuple[int, int]],
    *,
    epochs: int,
    lr: float,
    temperature: float,
    weight_decay: float = 1e-4,
    seed: int = 0,
    options: QueryOptions = QueryOptions(),
) -> tuple[dict[str, float], dict[str, float], list[tuple[dict[str, float], dict[str, float]]]]:
    """For each (fit part, score part) of ``splits``: restore the source weights, score the
    score part, fit ``params`` on the fit part, score it again. ``options`` carries the task's
    per-query exclusions, subsets and extra metrics.

    Returns the fitted models' metrics over every scored query, the source's over the same
    queries, and per split (metrics, source metrics). ``tower``'s weights and gradient flags
    are restored on return.
    """
    fitter = OracleFitter(tower, params, gallery, gallery_groups, options)
    overall, overall_source = fitter.metrics(), fitter.metrics()
    per_split: list[tuple[dict[str, float], dict[str, float]]] = []
    grad_flags = {id(p): p.requires_grad for p in tower.parameters()}
    chosen = {id(p) for p in params}
    try:
        for p in tower.parameters():
            p.requires_grad_(id(p) in chosen)
        for fold, (fit_on, score_on) in enumerate(splits):
            fitter.restore()
            source = fitter.score(parts[score_on], overall_source)
            fitter.fit(
                parts[fit_on], epochs=epochs, lr=lr, weight_decay=weight_decay, temperature=temperature,
                seed=seed + fold,
            )  # fmt: skip
            per_split.append((fitter.score(parts[score_on], overall), source))
    finally:
        fitter.restore()
        for p in tower.parameters():
            p.requires_grad_(grad_flags[id(p)])
    return overall.compute(), overall_source.compute(), per_split


def oracle(
    encoder: RetrievalModel | str,
    dataset: RetrievalDataset | str,
    direction: str = "i2t",
    shift: str = "none",
    *,
    mode: Mode = "heldout",
    epochs: int = EPOCHS,
    lr: float = LR,
    temperature: float = TEMPERATURE,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    gallery: torch.Tensor | None = None,
    workers: int = 2,
) -> OracleResult:
    """The supervised oracle on the shifted queries of ``dataset`` (module docstring).

    ``seed`` is the stream seed (each query's shift draw, the transductive batch order) and
    seeds the half split and the epoch shuffles. ``gallery`` passes precomputed clean gallery
    embeddings (:func:`qshift.api.embed_gallery`).
    """
    direction = check_direction(direction)
    if mode not in ("transductive", "heldout"):
        raise ValueError(f"oracle mode must be 'transductive' or 'heldout', got {mode!r}")
    if epochs < 1:
        raise ValueError(f"oracle epochs must be >= 1, got {epochs}")
    if temperature <= 0:
        raise ValueError(f"oracle temperature must be > 0, got {temperature}")
    start = time.perf_counter()
    encoder, dataset = resolve(encoder, dataset)
    spec = parse_shift(shift)
    queries = QueryBatches(encoder, dataset, direction, seed=seed, workers=workers)
    n = queries.num_queries
    tower = encoder.query_tower(direction)
    params = select_parameters(tower, encoder.adapt_params(direction))
    if not params:
        raise ValueError("the query tower has no parameters to adapt for the oracle")
    gallery_emb = embed_gallery(encoder, dataset, direction, workers) if gallery is None else gallery
    task = get_task(direction)
    options = QueryOptions(dataset.excluded.get(task.name), dataset.subsets.get(task.name), dataset.metrics)
    groups = dataset.groups[task.gallery]
    if mode == "transductive":
        parts = [np.concatenate([b.indices for b in single(n, spec, batch_size, seed)])]
        splits = [(0, 0)]  # (part fitted on, part scored)
    else:
        parts = list(half_split(n, seed))
        splits = [(0, 1), (1, 0)]
    prepared = [prepare_part(queries, part, spec, batch_size, encoder.device) for part in parts]
    metrics, source, per_split = cross_fit(
        tower, params, Gallery(gallery_emb, device=encoder.device, record="dense"), groups, prepared, splits,
        epochs=epochs, lr=lr, temperature=temperature, weight_decay=weight_decay, seed=seed, options=options,
    )  # fmt: skip
    folds = [
        Fold(np.sort(parts[fit_on]), np.sort(parts[score_on]), fold_metrics, fold_source)
        for (fit_on, score_on), (fold_metrics, fold_source) in zip(splits, per_split, strict=True)
    ]
    return OracleResult(mode, metrics, source, n, time.perf_counter() - start, folds)
