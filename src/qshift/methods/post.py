"""Training-free corrections that every adapter can apply to what it records (``post=``).

A :class:`PostTransform` turns the query embeddings behind a batch's recorded scores into
corrected embeddings and, for score-level corrections (hubness normalisers), corrected
scores. It may keep state over the stream (a running mean, a query bank); the adapter resets
and checkpoints that state with its own. Any method stacks them: ``post="recenter"``,
``post="recenter,qbnorm"`` or ``post=["recenter", ("qbnorm", {"beta": 10})]`` (on the command
line ``--hparam 'post=["recenter", ["qbnorm", {"beta": 10}]]'``); transforms given
by name are built with the adapter's ``stats`` (clean-query statistics). The training-free
methods (``recenter``, ``qbnorm``, ``dbnorm``) are the source model with their transform first
or last in this list.

The recorded scores of a score-level transform are log-domain normalised scores: they rank the
gallery for each query as the paper's normalised similarities do, on another scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from qshift import registry
from qshift.gallery import Gallery
from qshift.methods.source_stats import SourceStats


class PostTransform:
    """A training-free correction of a batch's query embeddings and scores."""

    #: True when the correction changes scores beyond ``z' Gᵀ`` (needs dense (B, N) scores)
    rescores: ClassVar[bool] = False

    def __call__(self, z: torch.Tensor, gallery: Gallery) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Corrected (B, d) embeddings and, for score-level corrections, (B, N) scores."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the stream seen so far."""

    def state(self) -> dict[str, Any]:
        """Stream state, for checkpoints."""
        return {}

    def load(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""


class ScoreTransform(PostTransform):
    """A correction of the scores alone. It may follow a transform that rescores the gallery
    and then corrects the scores that one left (``post=["qbnorm", "smooth"]``)."""

    rescores: ClassVar[bool] = True

    def rescore(self, scores: torch.Tensor, gallery: Gallery) -> torch.Tensor:
        """Corrected (B, N) scores."""
        raise NotImplementedError

    def __call__(self, z: torch.Tensor, gallery: Gallery) -> tuple[torch.Tensor, torch.Tensor]:
        return z, self.rescore(gallery.scores(z.detach()).float(), gallery)


#: one transform: an instance, a name (defaults), or a (name, options) pair — as a tuple or,
#: from JSON on the command line, a two-item list
PostItem = PostTransform | str | tuple[str, dict[str, Any]] | list
PostSpec = PostItem | Sequence[PostItem] | None


def post_items(spec: PostSpec) -> list[PostItem]:
    """``spec`` as a list of items; a string may be a comma list of names."""
    if spec is None:
        return []
    if isinstance(spec, str):
        return [name.strip() for name in spec.split(",") if name.strip()]
    if isinstance(spec, (PostTransform, tuple)) or _is_pair(spec):
        return [spec]
    return list(spec)


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, (tuple, list))
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], dict)
    )


def build_post(spec: PostSpec, stats: SourceStats | None) -> list[PostTransform]:
    """The transforms of ``spec``, built with ``stats`` where given by name.

    Only score transforms may follow a transform that rescores the gallery (the others would
    see embeddings only).
    """
    out: list[PostTransform] = []
    for item in post_items(spec):
        if isinstance(item, PostTransform):
            out.append(item)
            continue
        name, options = item if _is_pair(item) else (item, {})
        if not isinstance(name, str):
            raise ValueError(
                f"post transform must be a name, a (name, options) pair or a PostTransform, got {item!r}"
            )
        # the registry's "transform" kind: each class takes ``stats=`` and keyword options
        out.append(registry.load("transform", name)(stats=stats, **options))
    for i, transform in enumerate(out[:-1]):
        later = [t for t in out[i + 1 :] if not isinstance(t, ScoreTransform)]
        if transform.rescores and later:
            raise ValueError(
                f"post transform {type(transform).__name__} rescores the gallery: only score "
                f"transforms may follow it, not {type(later[0]).__name__}"
            )
    return out


def apply_post(
    transforms: Sequence[PostTransform], z: torch.Tensor, gallery: Gallery
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``transforms`` in order on embeddings ``z``: the final embeddings, and the (B, N)
    scores when the last transform rescores the gallery (None: the scores are ``z' Gᵀ``).

    A score transform after a rescoring one corrects that one's scores; :func:`build_post`
    allows nothing else after a rescoring transform.
    """
    scores: torch.Tensor | None = None
    for transform in transforms:
        if scores is not None and isinstance(transform, ScoreTransform):
            scores = transform.rescore(scores, gallery)
        else:
            z, scores = transform(z, gallery)
    return z, scores
