"""Streaming metrics against brute force; gallery search backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qshift.gallery import Gallery, recall_against_exact
from qshift.metrics import Geometry, RetrievalMetrics, top1_both_ways


def brute_force(scores: np.ndarray, query_groups: np.ndarray, gallery_groups: np.ndarray) -> dict[str, float]:
    """Sort every row, walk the ranking: the textbook definitions."""
    ranks, aps = [], []
    for row, group in zip(scores, query_groups, strict=True):
        order = np.argsort(-row, kind="stable")
        hits = gallery_groups[order] == group
        positions = np.flatnonzero(hits)
        ranks.append(positions[0])
        aps.append(np.mean([(i + 1) / (pos + 1) for i, pos in enumerate(positions)]))
    ranks = np.array(ranks)
    out = {f"r{k}": 100 * np.mean(ranks < k) for k in (1, 5, 10)}
    out["r_mean"] = (out["r1"] + out["r5"] + out["r10"]) / 3
    out["map"] = 100 * np.mean(aps)
    return out


def streamed(
    scores: np.ndarray, query_groups: np.ndarray, gallery_groups: np.ndarray, batch: int
) -> dict[str, float]:
    metrics = RetrievalMetrics(gallery_groups)
    for start in range(0, len(scores), batch):
        metrics.update(torch.tensor(scores[start : start + batch]), query_groups[start : start + batch])
    return metrics.compute()


def test_one_to_many_i2t_and_t2i():
    rng = np.random.default_rng(0)
    n_images = 40
    text_groups = np.repeat(np.arange(n_images), 5)  # an image and its 5 captions
    image_groups = np.arange(n_images)
    # i2t: image queries, caption gallery (5 relevant each); scores biased towards the truth
    s = rng.normal(size=(n_images, len(text_groups))) + 1.5 * (image_groups[:, None] == text_groups[None])
    want, got = brute_force(s, image_groups, text_groups), streamed(s, image_groups, text_groups, 7)
    assert got == pytest.approx(want, rel=1e-6)
    assert 0 < want["r1"] < 100
    # t2i: caption queries, image gallery (1 relevant each)
    s = rng.normal(size=(len(text_groups), n_images)) + 1.0 * (text_groups[:, None] == image_groups[None])
    assert streamed(s, text_groups, image_groups, 64) == pytest.approx(
        brute_force(s, text_groups, image_groups)
    )


def test_many_to_many_groups():
    rng = np.random.default_rng(1)
    gallery_groups = rng.integers(0, 12, size=90)  # uneven product/person groups
    query_groups = rng.choice(np.unique(gallery_groups), size=50)
    s = rng.normal(size=(50, 90))
    assert streamed(s, query_groups, gallery_groups, 16) == pytest.approx(
        brute_force(s, query_groups, gallery_groups)
    )


def test_ties_count_against_the_query():
    metrics = RetrievalMetrics(np.array([0, 1, 2, 3]))
    metrics.update(torch.zeros(2, 4), [0, 1])  # a collapsed model: every score equal
    assert metrics.compute()["r1"] == 0.0
    tied_relevant = RetrievalMetrics(np.array([0, 0, 1]))
    tied_relevant.update(torch.tensor([[1.0, 1.0, 0.0]]), [0])  # two relevant items tied on top
    assert tied_relevant.compute()["map"] == pytest.approx(100.0)


def test_metrics_shape_check():
    metrics = RetrievalMetrics(np.arange(5))
    with pytest.raises(ValueError, match="do not match"):
        metrics.update(torch.zeros(3, 4), [0, 1, 2])


def test_geometry():
    z = torch.nn.functional.normalize(torch.randn(30, 4), dim=1)
    g = torch.tensor([1.0, 0.0, 0.0, 0.0])
    geo = Geometry(g)
    geo.update(z[:10])
    geo.update(z[10:])
    out = geo.compute()
    assert out["uniformity"] == pytest.approx(float((z - z.mean(0)).norm(dim=1).mean()), rel=1e-6)
    assert out["gap"] == pytest.approx(float((z.mean(0) - g).norm()), rel=1e-6)


def test_chunked_topk_equals_dense():
    gen = torch.Generator().manual_seed(0)
    gallery = Gallery(torch.randn(1000, 16, generator=gen), chunk_size=97)
    q = torch.nn.functional.normalize(torch.randn(13, 16, generator=gen), dim=1)
    values, indices = gallery.topk(q, 10)
    dense_v, dense_i = (q @ gallery.embeddings.T).topk(10, dim=1)
    assert torch.equal(indices, dense_i)
    torch.testing.assert_close(values, dense_v)
    assert torch.equal(gallery.nearest(q), dense_i[:, 0])


def test_gallery_normalises_and_validates():
    gallery = Gallery(torch.tensor([[3.0, 4.0], [0.0, 2.0]]))
    torch.testing.assert_close(gallery.embeddings.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        Gallery(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="empty"):
        Gallery(torch.empty(0, 4))


def test_faiss_backends():
    pytest.importorskip("faiss")
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(2000, 32, generator=gen)
    q = torch.nn.functional.normalize(torch.randn(20, 32, generator=gen), dim=1)
    exact = Gallery(emb)
    flat = Gallery(emb, backend="faiss")
    assert torch.equal(flat.topk(q, 10)[1], exact.topk(q, 10)[1])
    assert recall_against_exact(flat, q) == 1.0
    hnsw = Gallery(emb, backend="faiss-hnsw")
    assert 0.8 <= recall_against_exact(hnsw, q) <= 1.0


def test_top1_both_ways_reads_rows_for_i2t_and_columns_for_t2i():
    # 2 images (groups 0, 1), 3 texts (groups 0, 0, 1)
    sims = torch.tensor([[0.9, 0.1, 0.5], [0.8, 0.2, 0.3]])
    i2t, t2i = top1_both_ways(sims, np.array([0, 1]), np.array([0, 0, 1]))
    assert i2t == 50.0  # image 0 -> text 0 (right), image 1 -> text 0 (wrong)
    # text 0 -> image 0 (right), text 1 -> image 1 (wrong), text 2 -> image 0 (wrong)
    assert round(t2i, 4) == round(100 / 3, 4)
