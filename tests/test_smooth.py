"""``smooth``: gallery items' scores borrow from their nearest gallery neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import qshift.methods as methods
from qshift.gallery import Gallery, MaskedGallery
from qshift.methods.post import apply_post, build_post
from qshift.methods.qbnorm import QBNormTransform
from qshift.methods.smooth import GallerySmoothing, NeighbourGraph

from toys import ToyEncoder, toy_batches, toy_gallery

# three captions of one target close together (0-2); a distractor (3) whose neighbours (4, 5)
# describe something else
G = F.normalize(
    torch.tensor(
        [
            [1.0, 0.1, 0.0],
            [1.0, -0.1, 0.0],
            [1.0, 0.0, 0.15],
            [0.5, 0.85, 0.0],
            [0.0, 1.0, 0.0],
            [0.1, 0.9, 0.4],
        ]
    ),
    dim=-1,
)


def test_graph_holds_each_items_nearest_other_items_with_normalised_weights():
    graph = NeighbourGraph(Gallery(G), k=2)
    sims = G @ G.T
    for i in range(len(G)):
        others = [j for j in torch.argsort(sims[i], descending=True).tolist() if j != i][:2]
        assert sorted(graph.indices[i].tolist()) == sorted(others)
        expected = sims[i, graph.indices[i]].clamp_min(0)
        torch.testing.assert_close(graph.weights[i], expected / expected.sum())


def test_exact_duplicates_never_count_an_item_as_its_own_neighbour():
    dup = torch.cat([G, G[:2]])  # items 6 and 7 repeat items 0 and 1
    graph = NeighbourGraph(Gallery(dup), k=3)
    own = torch.arange(len(dup))[:, None]
    assert graph.indices.shape == (8, 3)
    assert not (graph.indices == own).any()
    assert 6 in graph.indices[0].tolist() and 0 in graph.indices[6].tolist()


def test_rescore_by_hand_and_the_vote_that_fixes_a_ranking():
    q = F.normalize(torch.tensor([[0.8, 0.55, 0.0]]), dim=-1)  # nearest: the distractor 3
    gallery = Gallery(G)
    raw = gallery.scores(q)
    assert int(raw.argmax()) == 3
    smooth = GallerySmoothing(k=2, alpha=0.5)
    out = smooth.rescore(raw, gallery)
    graph = smooth.neighbours(gallery)
    expected = raw + 0.5 * (raw[:, graph.indices] * graph.weights).sum(-1)
    torch.testing.assert_close(out, expected)
    assert int(out.argmax()) == 0  # the target's captions vote their best one back on top
    z, scores = smooth(q, gallery)  # as a first transform it scores the embeddings itself
    assert torch.equal(z, q) and torch.allclose(scores, out)


def test_excluded_items_neither_vote_nor_change():
    gallery = Gallery(G)
    masked = MaskedGallery(gallery, [np.array([3])])
    q = F.normalize(torch.tensor([[0.9, 0.0, -0.3]]), dim=-1)
    scores = masked.scores(q)
    smooth = GallerySmoothing(k=2, alpha=1.0)
    out = smooth.rescore(scores, masked)
    graph = smooth.neighbours(masked)
    assert out[0, 3] == scores[0, 3]
    for i in range(len(G)):
        nbrs = [j for j in graph.indices[i].tolist() if j != 3]
        if i == 3 or not nbrs:
            continue
        w = graph.weights[i][[graph.indices[i].tolist().index(j) for j in nbrs]]
        mean = (scores[0, nbrs] * w).sum() / w.sum()
        torch.testing.assert_close(out[0, i], scores[0, i] + mean)


def test_smooth_follows_a_rescoring_transform_and_corrects_its_scores():
    """qbnorm then smooth: the smoothing of QB-Norm's scores, batch after batch (QB-Norm's bank grows)."""
    post = build_post([("qbnorm", {"beta": 10.0}), ("smooth", {"k": 2})], None)
    by_hand_qb, by_hand_smooth = QBNormTransform(beta=10.0), GallerySmoothing(k=2)
    gallery = Gallery(G)
    for z in (F.normalize(G[:3] + 0.05, dim=-1), F.normalize(G[2:] - 0.05, dim=-1)):
        _, chained = apply_post(post, z, gallery)
        _, qb = by_hand_qb(z, gallery)
        torch.testing.assert_close(chained, by_hand_smooth.rescore(qb, gallery))


def test_smooth_errors():
    with pytest.raises(ValueError, match="k must be >= 1"):
        GallerySmoothing(k=0)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        GallerySmoothing(alpha=-1)
    with pytest.raises(ValueError, match="needs a gallery of more than 6 items"):
        GallerySmoothing(k=6).rescore(torch.zeros(1, 6), Gallery(G))
    with pytest.raises(ValueError, match="only score transforms may follow it, not RecenterTransform"):
        build_post(["smooth", "recenter"], None)


def test_any_method_stacks_it_and_its_weights_move_as_without_it(one_thread):
    plain = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=1e-2)
    stacked = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=1e-2, post=[("smooth", {"k": 3})])
    for x in toy_batches([16] * 3):
        raw, recorded = plain(x), stacked(x)
        torch.testing.assert_close(recorded, GallerySmoothing(k=3).rescore(raw, plain.gallery))
    for a, b in zip(plain.params, stacked.params, strict=True):
        assert torch.equal(a, b)
