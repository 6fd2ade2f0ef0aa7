"""The Adapter base every adaptation method builds on.

It owns what all methods share (method.md §1): which parameters adapt, the AdamW optimizer,
``steps`` optimisation steps per batch, eval-mode forwards, the recorded-score rule (scores
of the *last* step's forward, before that step's update), ``reset()`` to the exact source
state and a ``state_dict()`` of the whole adaptation state. A method only writes
:meth:`Adapter.objective` (and, if it keeps state across batches, the two state hooks).

Under torchrun (:mod:`qshift.distributed`) the adapter takes the *global* batch on every rank,
runs the encoder on this rank's contiguous share, all-gathers the embeddings with gradient
and sums parameter gradients over ranks before each optimizer step; methods see the global
batch and need no changes.

When the gallery records top-k (:attr:`Gallery.records_topk`, large galleries), an adapter
returns each query's top-k (scores, indices) instead of (B, N) scores; methods whose
objective reads only each query's nearest gallery item (:attr:`Adapter.nearest_only`) then see the
union of the batch's top-k candidates instead of the whole gallery, which changes nothing
in their arithmetic and keeps memory at O(B·k).

``anchor`` (qshift's own; default 0 = off) pulls every training method toward the source
weights: the loss gains ``anchor · Σ_i ‖θ_i − θ_i^source‖²``. Its gradient
``2·anchor·(θ − θ^source)`` is added to the parameter gradients just before each optimizer step
(an optimizer pre-step hook), which is the same update as adding the term to the loss but also
reaches methods that drive the optimizer themselves (SAR's second pass, tcr-gd's projected
gradient) and, coming after the all-reduce, counts once under torchrun instead of W times.
For tcr-gd the pull therefore joins after the projection: it is neither projected nor part of
the measured angles.

``post`` (default none) stacks training-free corrections (re-centering, QB-Norm, DBNorm;
:mod:`qshift.methods.post`) on any method: after each batch is adapted they turn its last
embeddings into the recorded scores. ``stats`` holds the tower's clean-query statistics
(:class:`~qshift.methods.source_stats.SourceStats` or a path) for the methods and transforms
that compare the stream with clean queries.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from qshift import collective
from qshift.gallery import Gallery, MaskedGallery, TopK
from qshift.methods.losses import entropy
from qshift.methods.params import ParamSpec, select_parameters
from qshift.methods.post import PostSpec, apply_post, build_post
from qshift.methods.source_stats import SourceStats, resolve_stats

Objective = tuple[torch.Tensor | None, torch.Tensor]
#: what an adapter records per batch: dense (B, N) scores, or top-k for large galleries
Scores = torch.Tensor | TopK


def batch_size_of(batch: Any) -> int:
    """Number of queries in ``batch``; ValueError for empty or non-finite batches."""
    if isinstance(batch, torch.Tensor):
        tensors = [batch]
    elif isinstance(batch, Mapping):
        tensors = [v for v in batch.values() if isinstance(v, torch.Tensor)]
    elif isinstance(batch, Sequence) and not isinstance(batch, str):
        if len(batch) == 0:
            raise ValueError("empty batch: a query batch needs at least one item")
        return len(batch)
    else:
        raise ValueError(
            f"unsupported batch type {type(batch).__name__}: pass a tensor or a mapping of tensors"
        )
    if not tensors or tensors[0].dim() == 0:
        raise ValueError("query batch holds no batched tensor")
    size = tensors[0].shape[0]
    if size == 0:
        raise ValueError("empty batch: a query batch needs at least one item")
    for tensor in tensors:
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError("query batch contains NaN or inf values")
    return size


def batch_length(batch: Any) -> int:
    """Number of rows of a batch that :func:`batch_size_of` accepted (no validation)."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    if isinstance(batch, Mapping):
        return next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
    return len(batch)


class Adapter:
    """Online test-time adaptation of a query encoder against a fixed gallery.

    ``adapter(batch)`` adapts on one batch and returns its recorded (B, N) scores (top-k
    (scores, indices) when the gallery records top-k).
    """

    #: registry name, set by each method
    name: ClassVar[str] = ""
    #: False for methods that never update weights (no optimizer, no params needed)
    trains: ClassVar[bool] = True
    #: True when the objective uses only each query's nearest gallery item (method.md §2), so
    #: a gallery cut down to the batch's top-k candidates gives the same losses
    nearest_only: ClassVar[bool] = False
    #: the method's own softmax temperature; None: the dataset's baseline temperature T
    #: (method.md §3), which :func:`qshift.evaluate` passes in (0.01 when built directly)
    default_temperature: ClassVar[float | None] = None

    def __init__(
        self,
        encoder: nn.Module,
        gallery: torch.Tensor | Gallery,
        *,
        params: ParamSpec = "norm",
        steps: int = 3,
        lr: float = 3e-4,
        weight_decay: float = 1e-4,
        temperature: float | None = None,
        anchor: float = 0.0,
        post: PostSpec = None,
        stats: SourceStats | str | None = None,
    ):
        if not isinstance(encoder, nn.Module):
            raise ValueError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        if self.trains and steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if temperature is None:
            temperature = self.default_temperature if self.default_temperature is not None else 0.01
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not (math.isfinite(anchor) and anchor >= 0):
            raise ValueError(f"anchor must be a finite number >= 0, got {anchor}")
        self.encoder = encoder
        device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
        self.gallery = gallery if isinstance(gallery, Gallery) else Gallery(gallery, device=device)
        #: the gallery of the current batch before any narrowing to candidates (with its exclusions)
        self.whole_gallery = self.gallery
        self.steps = steps if self.trains else 1
        self.lr = lr
        self.weight_decay = weight_decay
        self.temperature = temperature
        #: weight of the L2 pull toward the source weights (0: off; no-op for non-training methods)
        self.anchor = anchor
        self.params: list[nn.Parameter] = []
        if self.trains:
            self.params = select_parameters(encoder, params)
            if not self.params:
                raise ValueError(
                    "encoder has no trainable normalisation parameters: params='norm' found no "
                    "LayerNorm/GroupNorm/BatchNorm affine weights; pass params=<callable> to choose some"
                )
            chosen = {id(p) for p in self.params}
            for param in encoder.parameters():
                param.requires_grad_(id(param) in chosen)
        names = {id(p): n for n, p in encoder.named_parameters()}
        self._param_names = [names[id(p)] for p in self.params]
        self._source = [p.detach().clone() for p in self.params]
        self.optimizer = self._new_optimizer()
        self.batches_seen = 0
        self.last_embeddings = None
        #: this process's share of the work under torchrun (a single process otherwise)
        self.world = collective.world()
        collective.check_same_weights(encoder)
        encoder.eval()
        # -- training-free corrections stacked on the method (methods/post.py) --
        loaded = resolve_stats(stats)
        #: clean-query statistics of this tower (None when not given)
        self.stats = loaded.to(self.gallery.device) if loaded is not None else None
        #: training-free corrections applied, in order, to every recorded batch
        self.post = build_post(post, self.stats)
        if self.gallery.records_topk and any(t.rescores for t in self.post):
            raise ValueError(
                "post transforms that rescore the gallery need dense scores (gallery record='dense')"
            )

    @property
    def last_embeddings(self) -> torch.Tensor | None:
        """The normalised query embeddings behind the last recorded scores (B, d)."""
        return self._last_embeddings

    @last_embeddings.setter
    def last_embeddings(self, value: torch.Tensor | None) -> None:
        self._last_embeddings = value
        self._last_topk: TopK | None = None  # searched lazily for whatever is assigned

    # -- what a method implements ----------------------------------------------------------
    def objective(self, z: torch.Tensor, batch: Any, step: int) -> Objective:
        """Loss to minimise at ``step`` (None: no update) and this forward's (B, N) scores."""
        raise NotImplementedError

    def reset_state(self) -> None:
        """Clear method state kept across batches (queues, moving averages)."""

    def extra_state(self) -> dict[str, Any]:
        """Method state kept across batches, for checkpoints."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    def after_step(self) -> None:
        """Called after every optimizer step, whoever takes it (EMA teachers follow the weights)."""

    # -- the shared machinery --------------------------------------------------------------
    def __call__(self, batch: Any) -> Scores:
        """Adapt on ``batch`` and return its recorded (B, N) scores (detached), or top-k."""
        self.current_batch_size = batch_size_of(batch)
        self.encoder.eval()
        scores = self.adapt(batch)
        if self.post:
            scores = self.apply_post()
        self.batches_seen += 1
        if self.gallery.records_topk:
            return self.recorded_topk()
        return scores

    def apply_post(self) -> torch.Tensor:
        """Correct :attr:`last_embeddings` with :attr:`post`; the corrected (B, N) scores.

        In top-k mode only the embeddings change (the top-k is searched from them).
        """
        assert self.last_embeddings is not None
        z, rescored = apply_post(self.post, self.last_embeddings, self.gallery)
        self.last_embeddings = z
        if rescored is not None:
            return rescored
        return z.new_empty(0) if self.gallery.records_topk else self.gallery.scores(z)

    def adapt(self, batch: Any) -> torch.Tensor:
        """``steps`` × (forward, loss, update); the last forward's scores are recorded."""
        scores = torch.empty(0)
        topk, narrow = self.gallery.records_topk, self.nearest_only
        for step in range(self.steps):
            with torch.set_grad_enabled(self.trains):
                z = self.embed(batch)
            # top-k mode: search every step for a narrowed method, else only what is recorded
            found = self.search(z) if topk and (narrow or step == self.steps - 1) else None
            with self._candidates(found if narrow else None):
                with torch.set_grad_enabled(self.trains):
                    loss, scores = self.objective(z, batch, step)
                self.update(loss)
            self.last_embeddings = z.detach()
            self._last_topk = found
        return scores

    @contextmanager
    def excluding(self, excluded: Sequence[np.ndarray] | None) -> Iterator[None]:
        """Within the block, query b of the batch never scores the gallery items ``excluded[b]``.

        Every score the method and the recording see comes from a
        :class:`~qshift.gallery.MaskedGallery` (a composed query's reference image is not a
        candidate of its own retrieval). ``None`` changes nothing.
        """
        if excluded is None:
            yield
            return
        full = self.gallery
        self.gallery = self.whole_gallery = MaskedGallery(full, excluded)
        try:
            yield
        finally:
            self.gallery = self.whole_gallery = full

    @contextmanager
    def _candidates(self, found: TopK | None) -> Iterator[None]:
        """Show a :attr:`nearest_only` method the batch's top-k candidates as its gallery."""
        full = self.gallery
        if found is None:
            yield
            return
        indices = torch.unique(found.indices)
        self.gallery = full.subset(indices[indices >= 0])
        try:
            yield
        finally:
            self.gallery = full

    def local_share(self, batch: Any) -> Any:
        """The rows of ``batch`` this rank's encoder runs on (all of them in a single process)."""
        if not self.world.active:
            return batch
        start, stop = self.world.shard(batch_length(batch))
        return collective.slice_batch(batch, start, stop)

    def embed(self, batch: Any) -> torch.Tensor:
        """Normalised (B, d) query embeddings from the encoder, checked against the gallery.

        Under torchrun the encoder runs on this rank's share of the batch only and the shares
        are all-gathered with gradient, so every rank holds the same (B, d) embeddings.
        """
        total = batch_length(batch)
        start, stop = self.world.shard(total)
        if stop > start:
            out = self.encoder(collective.slice_batch(batch, start, stop) if self.world.active else batch)
            if not isinstance(out, torch.Tensor) or out.dim() != 2:
                raise ValueError("encoder must return a (B, d) tensor of embeddings")
            if out.shape[1] != self.gallery.dim:
                raise ValueError(
                    f"gallery width {self.gallery.dim} differs from the encoder output width {out.shape[1]}"
                )
            local = F.normalize(out.float(), dim=-1)
        else:  # a tiny batch left this rank without queries: it still joins the gather
            local = torch.zeros(
                0, self.gallery.dim, device=self.gallery.device, requires_grad=torch.is_grad_enabled()
            )
        z = collective.gather_rows_with_grad(local, self.world.sizes(total))
        if not torch.isfinite(z).all():
            raise ValueError("encoder produced NaN or inf embeddings for this batch")
        return z

    def update(self, loss: torch.Tensor | None) -> None:
        """One AdamW step on ``loss``; skipped when the method selected nothing (``None``)."""
        if loss is None or not self.trains:
            return
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        collective.all_reduce_grads(self.params)
        self.optimizer.step()

    @torch.no_grad()
    def search(self, z: torch.Tensor) -> TopK:
        """Each query's top-``record_k`` in the gallery; ranks search their own share of ``z``."""
        z = z.detach()
        total = len(z)
        start, stop = self.world.shard(total)
        k = min(self.gallery.record_k, self.gallery.size)
        if stop > start:
            found = self.gallery.topk(z[start:stop], k, offset=start)
        else:
            found = TopK(z.new_zeros(0, k), torch.zeros(0, k, dtype=torch.long, device=z.device))
        sizes = self.world.sizes(total)
        return TopK(collective.gather_rows(found.values, sizes), collective.gather_rows(found.indices, sizes))

    def recorded_topk(self) -> TopK:
        """Top-k of :attr:`last_embeddings` (reusing the last step's search when it matches)."""
        if self._last_topk is None:
            if self.last_embeddings is None:
                raise ValueError("no batch has been adapted yet")
            self._last_topk = self.search(self.last_embeddings)
        return self._last_topk

    def record(self, z: torch.Tensor) -> Scores:
        """What the gallery's record mode keeps of embeddings ``z``: dense scores or top-k."""
        return self.search(z) if self.gallery.records_topk else self.gallery.scores(z.detach())

    def gallery_entropy(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(scores ``z Gᵀ``, logits ``z Gᵀ / T``, entropy of each query's softmax) over the whole
        gallery: the opening of every entropy baseline (method.md §3)."""
        scores = self.gallery.scores(z)
        logits = scores / self.temperature
        return scores, logits, entropy(logits)

    @torch.no_grad()
    def score(self, batch: Any) -> Scores:
        """Recorded scores of the current weights, without adapting (for probe batches)."""
        batch_size_of(batch)
        self.encoder.eval()
        return self.record(self.embed(batch))

    @torch.no_grad()
    def source_embed(self, batch: Any) -> torch.Tensor:
        """Embeddings of ``batch`` under the source weights, without touching the adapted ones."""
        return self.embed_with(self._source, batch)

    @torch.no_grad()
    def embed_with(self, weights: Sequence[torch.Tensor], batch: Any) -> torch.Tensor:
        """Normalised embeddings of ``batch`` with ``weights`` standing in for :attr:`params`.

        The adapted weights stay untouched (``functional_call``); under torchrun each rank embeds
        its share and every rank gets all rows. No gradient.
        """
        was_training = self.encoder.training
        self.encoder.eval()
        total = batch_length(batch)
        start, stop = self.world.shard(total)
        if stop > start:
            overrides = dict(zip(self._param_names, weights, strict=True))
            share = collective.slice_batch(batch, start, stop) if self.world.active else batch
            local = F.normalize(
                functional_call(self.encoder, overrides, (share,), strict=False).float(), dim=-1
            )
        else:
            local = torch.zeros(0, self.gallery.dim, device=self.gallery.device)
        self.encoder.train(was_training)
        return collective.gather_rows(local, self.world.sizes(total))

    def _new_optimizer(self) -> torch.optim.Optimizer | None:
        if not self.params:
            return None
        optimizer = torch.optim.AdamW(
            self.params, lr=self.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=self.weight_decay
        )
        if self.anchor > 0:  # no hook at all when off, so the default run is bit-identical
            optimizer.register_step_pre_hook(lambda *_: self._add_anchor_gradient())
        optimizer.register_step_post_hook(lambda *_: self.after_step())
        return optimizer

    @torch.no_grad()
    def _add_anchor_gradient(self) -> None:
        """Add d/dθ of ``anchor · ‖θ − θ^source‖²`` to every adapted parameter's gradient.

        Runs after the gradients were summed over ranks, so every rank adds it once.
        """
        for param, source in zip(self.params, self._source, strict=True):
            pull = 2 * self.anchor * (param - source)
            param.grad = pull if param.grad is None else param.grad + pull

    @torch.no_grad()
    def restore_source_weights(self) -> None:
        """Copy the source weights back and start a fresh optimizer (method state untouched)."""
        for param, source in zip(self.params, self._source, strict=True):
            param.copy_(source)
        self.optimizer = self._new_optimizer()

    def reset(self) -> None:
        """Back to the exact source state: weights, optimizer, and the method's own state."""
        self.restore_source_weights()
        self.batches_seen = 0
        self.last_embeddings = None
        self.reset_state()
        for transform in self.post:
            transform.reset()

    def state_dict(self) -> dict[str, Any]:
        """The whole adaptation state, so a long run can checkpoint and resume."""
        return {
            "method": self.name,
            "params": [p.detach().clone() for p in self.params],
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "batches_seen": self.batches_seen,
            "extra": self.extra_state(),
            "post": [t.state() for t in self.post],
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict` of the same method and encoder."""
        if state.get("method") != self.name:
            raise ValueError(f"state is for method {state.get('method')!r}, not {self.name!r}")
        if len(state["params"]) != len(self.params):
            raise ValueError("state holds a different number of adapted parameters than this adapter")
        for param, saved in zip(self.params, state["params"], strict=True):
            param.copy_(saved)
        self.optimizer = self._new_optimizer()
        if self.optimizer is not None and state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.batches_seen = state["batches_seen"]
        self.load_extra_state(state["extra"])
        post = state.get("post", [])
        if len(post) != len(self.post):
            raise ValueError(
                f"state holds {len(post)} post transform states, this adapter has {len(self.post)}"
            )
        for transform, saved in zip(self.post, post, strict=True):
            transform.load(saved)
