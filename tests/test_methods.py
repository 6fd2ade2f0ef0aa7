"""Every method: hand-computed losses, long adversarial streams, reset, checkpoints, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import qshift.methods as methods

from toys import ToyEncoder, ToyImageEncoder, toy_batches, toy_gallery

ALL = ["source", "tent", "eata", "sar", "read", "deyo", "shot", "tcr", "tcr-free"]

Z = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.3], [0.5, 0.5, 0.5], [0.0, 0.3, 0.9], [0.7, 0.0, 0.7]])
G = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0]])


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_entropy(x):
    p = np_softmax(x)
    return -(p * np.log(p)).sum(axis=-1)


def loss_of(name: str, temperature: float = 0.5, batch=None, **hp) -> float:
    """The method's objective at step 0 on the fixed (Z, G) example."""
    adapter = methods.build(
        name, ToyEncoder(d_out=3), torch.tensor(G, dtype=torch.float32), temperature=temperature, **hp
    )
    z = torch.tensor(Z, dtype=torch.float32)
    z = z / z.norm(dim=1, keepdim=True)
    adapter.current_batch_size = len(z)
    loss, scores = adapter.objective(
        z.requires_grad_(), batch if batch is not None else {"ids": torch.zeros(5, 1)}, 0
    )
    assert scores.shape == (5, 4)
    return float(loss.detach())


def normalised_logits(temperature: float) -> np.ndarray:
    z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    g = G / np.linalg.norm(G, axis=1, keepdims=True)
    return z @ g.T / temperature


def test_tent_loss():
    assert loss_of("tent") == pytest.approx(np_entropy(normalised_logits(0.5)).mean(), rel=1e-5)


def test_eata_loss():
    h = np_entropy(normalised_logits(0.5))
    keep = np.argsort(h)[:2]  # ⌊0.4·5⌋ = 2, no redundancy filter on the first update
    want = (np.exp(-(h[keep] - 0.4)) * h[keep]).mean()
    assert loss_of("eata") == pytest.approx(want, rel=1e-5)


def test_sar_first_pass_loss():
    h = np_entropy(normalised_logits(0.5))
    assert loss_of("sar") == pytest.approx(np.sort(h)[:2].mean(), rel=1e-5)


def test_read_loss():
    p = np_softmax(normalised_logits(0.5))
    p_max = p.max(axis=1)
    want = (-p_max * np.log(p_max)).mean() - np_entropy(p.sum(axis=0))
    assert loss_of("read") == pytest.approx(want, rel=1e-5)


def test_deyo_text_loss():
    h = np_entropy(normalised_logits(0.5))
    threshold = np.sort(h)[2]  # k = ⌊0.5·5⌋ = 2, strict <
    kept = h[h < threshold]
    margin = np.sort(kept)[0]  # ⌊0.4·2⌋ = 0 → the smallest
    weight = 1 / (np.exp(kept - margin) + 0.1) + (np.exp(0.0) + 0.1)
    assert loss_of("deyo") == pytest.approx((weight * kept).mean(), rel=1e-5)


def test_shot_loss_with_confident_queries():
    logits = normalised_logits(0.05)
    p = np_softmax(logits)
    p_bar = p.mean(axis=0)
    confident = p.max(axis=1) > 0.9
    assert confident.any() and not confident.all()
    ce = -np.log(p[confident, p[confident].argmax(axis=1)]).mean()
    want = np_entropy(logits).mean() + (p_bar * np.log(p_bar + 1e-5)).sum() + 0.1 * ce
    assert loss_of("shot", temperature=0.05) == pytest.approx(want, rel=1e-5)


def test_tcr_uniformity_only_when_queue_empty():
    # B = 3 → ⌊0.3·3⌋ = 0 pairs enter the queue: REM and EMG are guarded to 0
    adapter = methods.build("tcr", ToyEncoder(d_out=3), torch.tensor(G, dtype=torch.float32))
    z = torch.tensor(Z[:3], dtype=torch.float32)
    z = z / z.norm(dim=1, keepdim=True)
    loss, _ = adapter.objective(z, None, 0)
    zn = Z[:3] / np.linalg.norm(Z[:3], axis=1, keepdims=True)
    want = np.exp(-0.1 * np.linalg.norm(zn - zn.mean(0), axis=1)).mean()
    assert float(loss) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("name", methods.names())
def test_long_adversarial_stream_finite_and_reset_exact(name):
    encoder = ToyEncoder()
    source = {k: v.clone() for k, v in encoder.state_dict().items()}
    adapter = methods.build(name, encoder, toy_gallery(50), lr=1e-2)
    sizes = [64, 1, 17, 64, 2, 64, 64, 3, 64, 1] * 6
    moved = False
    for x in toy_batches(sizes, outliers=True):
        scores = adapter(x)
        assert scores.shape == (len(x), 50)
        assert torch.isfinite(scores).all()
        moved |= any(not torch.equal(v, source[k]) for k, v in encoder.state_dict().items())
    assert all(torch.isfinite(p).all() for p in encoder.parameters())
    assert moved == adapter.trains
    adapter.reset()
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, source[key]), key


@pytest.mark.parametrize("name", ["deyo", "sar", "eata", "tcr"])
def test_image_batches(name):
    encoder = ToyImageEncoder()
    adapter = methods.build(name, encoder, toy_gallery(30), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for size in [32, 32, 1, 32]:
        assert torch.isfinite(adapter(torch.rand(size, 3, 8, 8, generator=g))).all()


@pytest.mark.parametrize("name", methods.names())
def test_checkpoint_resume_matches_uninterrupted(name):
    batches = toy_batches([32] * 8)
    straight = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2)
    want = [straight(x) for x in batches]
    first = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2)
    for x in batches[:4]:
        first(x)
    state = first.state_dict()
    resumed = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2)
    resumed.load_state_dict(state)
    for x, w in zip(batches[4:], want[4:], strict=True):
        torch.testing.assert_close(resumed(x), w, atol=1e-6, rtol=0)


def test_recorded_scores_are_last_forward_before_its_update():
    encoder, gallery = ToyEncoder(), toy_gallery(40)
    x = toy_batches([32])[0]
    replica = ToyEncoder()
    adapter = methods.build("tent", encoder, gallery, lr=5e-2, steps=3)
    recorded = adapter(x)
    # replay by hand: two updates, then the third forward is what must be recorded
    params = methods.params.norm_parameters(replica)
    opt = torch.optim.AdamW(params, lr=5e-2, weight_decay=1e-4)
    snapshots = []
    for _ in range(3):
        z = nn.functional.normalize(replica(x), dim=-1)
        scores = z @ gallery.T
        snapshots.append(scores.detach())
        p = (scores / 0.01).log_softmax(1)
        loss = -(p.exp() * p).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after_all = nn.functional.normalize(replica(x), dim=-1).detach() @ gallery.T
    torch.testing.assert_close(recorded, snapshots[2], atol=1e-5, rtol=0)
    assert not torch.allclose(recorded, snapshots[1], atol=1e-3)
    assert not torch.allclose(recorded, after_all, atol=1e-3)


def test_params_norm_selects_only_norm_affine():
    encoder = ToyEncoder()
    adapter = methods.build("tent", encoder, toy_gallery())
    norms = [m for m in encoder.modules() if isinstance(m, nn.LayerNorm)]
    assert {id(p) for p in adapter.params} == {id(p) for m in norms for p in (m.weight, m.bias)}
    assert [p.requires_grad for p in encoder.parameters()].count(True) == 4


def test_params_callable():
    encoder = ToyEncoder()
    adapter = methods.build("tent", encoder, toy_gallery(), params=lambda m: [m.body[0].weight])
    before = encoder.body[4].weight.clone()
    adapter(toy_batches([16])[0])
    assert torch.equal(before, encoder.body[4].weight)
    assert len(adapter.params) == 1


def test_error_no_norm_params():
    with pytest.raises(ValueError, match="no trainable normalisation parameters"):
        methods.build("tcr", nn.Linear(12, 8), toy_gallery())


def test_error_gallery_width():
    adapter = methods.build("tent", ToyEncoder(d_out=8), toy_gallery(d=5))
    with pytest.raises(ValueError, match="gallery width 5 differs from the encoder output width 8"):
        adapter(toy_batches([4])[0])


def test_error_empty_and_nan_batches():
    adapter = methods.build("tcr", ToyEncoder(), toy_gallery())
    with pytest.raises(ValueError, match="empty batch"):
        adapter(torch.empty(0, 12))
    bad = torch.randn(4, 12)
    bad[1, 3] = math.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        adapter(bad)
    bad[1, 3] = math.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        adapter(bad)


def test_unknown_method_and_hparam():
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        methods.build("nope", ToyEncoder(), toy_gallery())
    with pytest.raises(ValueError, match="unknown hyper-parameter.*con_ratio"):
        methods.build("tent", ToyEncoder(), toy_gallery(), con_ratio=0.3)


def test_names_contract():
    assert methods.names()[:9] == ALL


def test_tcr_gd_measures_angles_and_projects_conflicts():
    batches = toy_batches([32] * 12, outliers=False)
    measured = methods.build("tcr-gd", ToyEncoder(), toy_gallery(40), lr=5e-2, projection="none")
    plain = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=5e-2)
    for x in batches:  # projection="none" only measures: identical to plain TCR
        torch.testing.assert_close(measured(x), plain(x), atol=1e-5, rtol=0)
    stats = measured.angle_stats()
    assert stats["steps_measured"] > 0 and 0 <= stats["mean_angle"] <= 180
    projected = methods.build("tcr-gd", ToyEncoder(), toy_gallery(40), lr=5e-2, projection="global")
    for x in batches:
        projected(x)
    assert any(a > 90 for a in projected.angles)  # conflicts happen on this stream…
    # …and removing them changes the trajectory
    assert any(
        not torch.allclose(a, b, atol=1e-4) for a, b in zip(projected.params, plain.params, strict=True)
    )


def test_projection_removes_only_conflicting_component():
    from qshift.methods.tcr_gd import _project

    g_k = torch.tensor([1.0, 0.0])
    assert torch.equal(_project(torch.tensor([1.0, 1.0]), g_k), torch.tensor([1.0, 1.0]))
    out = _project(torch.tensor([-2.0, 1.0]), g_k)
    assert torch.allclose(out, torch.tensor([0.0, 1.0]))
