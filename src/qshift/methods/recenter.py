"""``recenter``: move the stream's query embeddings back to the clean queries' centre.

A query shift moves the whole cloud of query embeddings; part of that move is common to all
queries. Re-centering subtracts the stream's running mean embedding and adds the mean clean
query embedding stored with the model (:class:`~qshift.methods.source_stats.SourceStats`):
z′ = normalize(z − m_stream + m_clean). ``m_stream`` is the mean of every query seen so far,
this batch included (``momentum=0``), or an exponential moving mean (``momentum`` in (0, 1),
for streams whose shift changes). No gradient; the cost is one embedding per batch. It
assumes clean-query statistics stored with the model (``stats=``); as a post transform
(``post="recenter"``) it stacks on any method.

Without stored statistics m_clean is 0: the stream is only centred, z′ = normalize(z − m_stream),
the hubness reduction of Suzuki et al. (EMNLP 2013) — it lowers every gallery item's score by
its similarity to the queries' centroid, which is largest for hubs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from qshift.gallery import Gallery
from qshift.methods.base import Adapter, Objective
from qshift.methods.post import PostSpec, PostTransform, post_items
from qshift.methods.source_stats import SourceStats


class RecenterTransform(PostTransform):
    """z′ = normalize(z − m_stream + m_clean), updating m_stream with each batch first."""

    def __init__(self, stats: SourceStats | None = None, momentum: float = 0.0):
        if not 0 <= momentum < 1:
            raise ValueError(f"recenter momentum must be in [0, 1), got {momentum}")
        #: the clean query mean (None: centre on the origin)
        self.clean_mean = stats.embedding_mean if stats is not None else None
        self.momentum = momentum
        self.reset()

    def reset(self) -> None:
        self.mean: torch.Tensor | None = None
        self.count = 0

    def __call__(self, z: torch.Tensor, gallery: Gallery) -> tuple[torch.Tensor, None]:
        if self.clean_mean is not None and z.shape[1] != self.clean_mean.shape[0]:
            raise ValueError(
                f"recenter: the statistics' embedding width {self.clean_mean.shape[0]} differs "
                f"from the queries' {z.shape[1]}"
            )
        batch_sum = z.detach().double().sum(dim=0)
        if self.mean is None:
            self.mean = batch_sum / len(z)
        elif self.momentum == 0:
            self.mean = (self.mean * self.count + batch_sum) / (self.count + len(z))
        else:
            self.mean = self.momentum * self.mean + (1 - self.momentum) * batch_sum / len(z)
        self.count += len(z)
        target = self.clean_mean.to(self.mean) if self.clean_mean is not None else 0.0
        shift = (target - self.mean).to(z.dtype)
        return F.normalize(z + shift, dim=-1), None

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean, "count": self.count}

    def load(self, state: dict[str, Any]) -> None:
        self.mean, self.count = state["mean"], state["count"]


class Recenter(Adapter):
    """The source model's embeddings, re-centred on the clean query mean."""

    name = "recenter"
    trains = False
    nearest_only = True

    def __init__(self, *args: Any, momentum: float = 0.0, post: PostSpec = None, **kwargs: Any):
        super().__init__(*args, post=[("recenter", {"momentum": momentum}), *post_items(post)], **kwargs)

    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        return None, self.gallery.scores(z).detach()
