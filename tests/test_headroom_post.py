"""Training-free corrections: re-centering, QB-Norm, DBNorm, and stacking them on any method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import qshift.methods as methods
from qshift.gallery import Gallery
from qshift.methods.dbnorm import DBNormTransform
from qshift.methods.post import build_post
from qshift.methods.qbnorm import QBNormTransform
from qshift.methods.recenter import RecenterTransform
from qshift.methods.source_stats import SourceStats

from toys import ToyEncoder, toy_batches, toy_gallery

G = F.normalize(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0]]), dim=-1)
Z1 = F.normalize(torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.3], [0.5, 0.5, 0.5]]), dim=-1)
Z2 = F.normalize(torch.tensor([[0.0, 0.3, 0.9], [0.7, 0.0, 0.7]]), dim=-1)


def stats_with_mean(mean: torch.Tensor) -> SourceStats:
    return SourceStats(mean, torch.ones_like(mean), {}, 100)


def test_recenter_moves_the_running_stream_mean_onto_the_clean_mean():
    clean = torch.tensor([0.3, 0.1, 0.2])
    transform = RecenterTransform(stats_with_mean(clean))
    z, scores = transform(Z1, Gallery(G))
    assert scores is None
    torch.testing.assert_close(z, F.normalize(Z1 - Z1.mean(0) + clean, dim=-1))
    z, _ = transform(Z2, Gallery(G))  # the running mean now covers all five queries
    running = torch.cat([Z1, Z2]).mean(0)
    torch.testing.assert_close(z, F.normalize(Z2 - running + clean, dim=-1))


def test_recenter_moving_mean_and_plain_centering_without_stats():
    ema = RecenterTransform(stats_with_mean(torch.zeros(3)), momentum=0.75)
    ema(Z1, Gallery(G))
    z, _ = ema(Z2, Gallery(G))
    moving = 0.75 * Z1.mean(0) + 0.25 * Z2.mean(0)
    torch.testing.assert_close(z, F.normalize(Z2 - moving, dim=-1))
    centred, _ = RecenterTransform(None)(Z1, Gallery(G))
    torch.testing.assert_close(centred, F.normalize(Z1 - Z1.mean(0), dim=-1))
    with pytest.raises(ValueError, match="momentum must be in"):
        RecenterTransform(None, momentum=1.0)
    with pytest.raises(ValueError, match="embedding width 4 differs"):
        RecenterTransform(stats_with_mean(torch.zeros(4)))(Z1, Gallery(G))


def test_recenter_is_a_no_op_when_the_stream_sits_at_the_clean_mean():
    encoder, gallery = ToyEncoder(d_out=8), toy_gallery(30)
    (x,) = toy_batches([16])
    with torch.no_grad():
        clean = F.normalize(encoder(x), dim=-1).mean(0)
    source = methods.build("source", encoder, gallery)(x)
    recentred = methods.build("recenter", encoder, gallery, stats=stats_with_mean(clean))(x)
    torch.testing.assert_close(recentred, source, atol=1e-6, rtol=0)
    assert torch.equal(recentred.argsort(dim=1), source.argsort(dim=1))


def log_norm(bank: torch.Tensor, beta: float) -> torch.Tensor:
    return torch.logsumexp(beta * (bank @ G.T).double(), dim=0).float()


def test_qbnorm_dynamic_inverted_softmax_by_hand():
    transform = QBNormTransform(beta=20.0)
    _, first = transform(Z1, Gallery(G))
    torch.testing.assert_close(first, 20.0 * Z1 @ G.T)  # empty bank: raw scores
    _, second = transform(Z2, Gallery(G))
    s = Z2 @ G.T
    active = set((Z1 @ G.T).argmax(dim=1).tolist())  # the bank's nearest items: {0, 3, 1}
    want = 20.0 * s
    for row in range(len(Z2)):
        if int(s[row].argmax()) in active:
            want[row] -= log_norm(Z1, 20.0)
    assert [int(s[row].argmax()) in active for row in range(2)] == [False, True]  # one of each
    torch.testing.assert_close(second, want)
    _, third = QBNormTransform(beta=20.0, dynamic=False)(Z1, Gallery(G))
    torch.testing.assert_close(third, 20.0 * Z1 @ G.T)


def test_dbnorm_dual_inverted_softmax_by_hand():
    transform = DBNormTransform(beta_query=10.0, beta_gallery=5.0, dynamic=False)
    transform(Z1, Gallery(G))
    _, scores = transform(Z2, Gallery(G))
    gg = (G @ G.T).double()
    gg.fill_diagonal_(float("-inf"))  # an item is not its own bank member
    gallery_norm = torch.logsumexp(5.0 * gg, dim=0).float()
    want = 15.0 * (Z2 @ G.T) - log_norm(Z1, 10.0) - gallery_norm
    torch.testing.assert_close(scores, want)


def test_dbnorm_dynamic_rule_uses_each_banks_activation_set():
    transform = DBNormTransform(beta_query=10.0, beta_gallery=5.0)
    z = F.normalize(torch.tensor([[0.1, 0.2, 0.95], [0.9, 0.1, 0.0]]), dim=-1)
    _, first = transform(z, Gallery(G))
    gg = G @ G.T
    gg.fill_diagonal_(float("-inf"))  # nearest other items: 0 → 3, 1 → 3, 2 → 0, 3 → 1
    gallery_active = set(gg.argmax(dim=1).tolist())
    s = z @ G.T
    applies = [int(s[r].argmax()) in gallery_active for r in range(2)]
    assert applies == [False, True]  # item 2 is nobody's nearest neighbour
    gg_norm = torch.logsumexp(5.0 * gg.double(), dim=0).float()
    want = 15.0 * s - torch.stack([gg_norm * float(a) for a in applies])
    torch.testing.assert_close(first, want)  # no query bank yet: only the gallery factor


def test_reset_and_checkpoint_of_stacked_transforms(one_thread):
    stats = stats_with_mean(torch.full((8,), 0.1))
    batches = toy_batches([16] * 6)
    adapter = methods.build(
        "tcr", ToyEncoder(), toy_gallery(40), lr=1e-2, post="recenter,qbnorm", stats=stats
    )
    first = [adapter(x) for x in batches]
    adapter.reset()
    again = [adapter(x) for x in batches]
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    adapter.reset()
    for x in batches[:3]:
        adapter(x)
    state = adapter.state_dict()
    resumed = methods.build(
        "tcr", ToyEncoder(), toy_gallery(40), lr=1e-2, post="recenter,qbnorm", stats=stats
    )
    resumed.load_state_dict(state)
    for x, want in zip(batches[3:], first[3:], strict=True):
        torch.testing.assert_close(resumed(x), want, atol=1e-6, rtol=0)


def test_post_transforms_leave_the_adaptation_untouched_and_correct_its_records(one_thread):
    """TCR with post="recenter" adapts exactly as TCR does; its records are TCR's embeddings re-centred."""
    stats = stats_with_mean(torch.full((8,), 0.1))
    plain = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=1e-2)
    stacked = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=1e-2, post="recenter", stats=stats)
    by_hand = RecenterTransform(stats)
    for x in toy_batches([16] * 5):
        plain(x)
        recorded = stacked(x)
        z, _ = by_hand(plain.last_embeddings, plain.gallery)
        torch.testing.assert_close(recorded, plain.gallery.scores(z), atol=1e-6, rtol=0)
        torch.testing.assert_close(stacked.last_embeddings, z, atol=1e-6, rtol=0)
    for a, b in zip(plain.params, stacked.params, strict=True):
        assert torch.equal(a, b)


def test_post_spec_errors():
    with pytest.raises(ValueError, match="unknown transform 'nope'"):
        build_post("recenter,nope", None)
    with pytest.raises(ValueError, match="QBNormTransform rescores the gallery: only.*not Recenter"):
        build_post("qbnorm,recenter", None)
    with pytest.raises(ValueError, match="only score transforms may follow"):
        methods.build("qbnorm", ToyEncoder(), toy_gallery(), post="dbnorm")
    topk = Gallery(toy_gallery(40), record="topk")
    with pytest.raises(ValueError, match="need dense scores"):
        methods.build("tent", ToyEncoder(), topk, post="qbnorm")
    recentred = methods.build("tent", ToyEncoder(), topk, post="recenter")  # embedding-level: fine
    assert recentred(toy_batches([8])[0]).values.shape == (8, 10)


def test_training_free_methods_never_touch_the_weights():
    for name in ("recenter", "qbnorm", "dbnorm"):
        encoder = ToyEncoder()
        before = [p.clone() for p in encoder.parameters()]
        adapter = methods.build(name, encoder, toy_gallery(40))
        assert not adapter.trains and adapter.params == []
        for x in toy_batches([16, 16, 3]):
            assert np.isfinite(adapter(x).numpy()).all()
        assert all(torch.equal(a, b) for a, b in zip(before, encoder.parameters(), strict=True))
