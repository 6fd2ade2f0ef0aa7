"""Stability options (qshift's own): anchor to source, EMA teacher for TCR, drift reset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import qshift
import qshift.methods as methods
from qshift import distributed
from qshift.engine import DriftDetector, drift_threshold, reset_interval, run_stream
from qshift.gallery import Gallery
from qshift.methods.params import norm_parameters
from qshift.shifts import streams
from qshift.shifts.spec import ShiftSpec

from toys import ToyDualEncoder, ToyEncoder, join_as_rank, toy_batches, toy_dataset, toy_gallery


def shifted(sizes: list[int], seed: int = 2) -> list[torch.Tensor]:
    """Toy queries away from the clean distribution (scaled and offset)."""
    return [x * 2.5 + 1.0 for x in toy_batches(sizes, seed=seed)]


def distance_to_source(adapter: methods.Adapter) -> float:
    """Σ_i ‖θ_i − θ_i^source‖² over the adapted parameters."""
    return sum(
        float(((p.detach() - s) ** 2).sum()) for p, s in zip(adapter.params, adapter._source, strict=True)
    )


def retrieval_world(seed: int = 0, items: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
    """Query prototypes and a gallery of their source embeddings: clean queries match an item."""
    gen = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(items, 12, generator=gen)
    with torch.no_grad():
        gallery = F.normalize(ToyEncoder()(prototypes), dim=-1)
    return prototypes, gallery, gen


def noisy_batches(prototypes: torch.Tensor, gen: torch.Generator, count: int, noise: float, size: int = 32):
    """Engine triples of prototypes plus Gaussian noise (0.3: clean; 2: strongly shifted)."""
    out = []
    for _ in range(count):
        idx = torch.randint(0, len(prototypes), (size,), generator=gen)
        x = prototypes[idx] + noise * torch.randn(size, prototypes.shape[1], generator=gen)
        planned = streams.PlannedBatch(idx.numpy(), (ShiftSpec("none"),) * size, f"noise {noise}")
        out.append((planned, x, idx.numpy()))
    return out


# -- anchor -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tent", "tcr"])
def test_anchor_zero_is_bit_identical_to_default(name):
    xs = shifted([16] * 4)
    default = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2)
    zero = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2, anchor=0.0)
    for x in xs:
        assert torch.equal(default(x), zero(x))
    assert all(torch.equal(a, b) for a, b in zip(default.params, zero.params, strict=True))


def test_anchor_is_the_gradient_of_the_l2_term_added_to_the_loss():
    """One Tent step with anchor equals AdamW on entropy + anchor·‖θ − θ_source‖², replayed by hand."""
    gallery, x = toy_gallery(40), shifted([16])[0]
    adapter = methods.build("tent", ToyEncoder(), gallery, lr=5e-2, steps=2, anchor=3.0)
    adapter(x)
    replica = ToyEncoder()
    params = norm_parameters(replica)
    source = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=5e-2, weight_decay=1e-4)
    for _ in range(2):
        logits = F.normalize(replica(x), dim=-1) @ gallery.T / 0.01
        entropy = -(logits.softmax(1) * logits.log_softmax(1)).sum(1).mean()
        pull = sum(((p - s) ** 2).sum() for p, s in zip(params, source, strict=True))
        opt.zero_grad()
        (entropy + 3.0 * pull).backward()
        opt.step()
    for got, want in zip(adapter.params, params, strict=True):
        torch.testing.assert_close(got.detach(), want.detach(), atol=1e-6, rtol=1e-5)


def test_anchor_keeps_params_near_source_on_a_shifted_stream():
    xs = shifted([16] * 10)
    distances = {}
    for anchor in (0.0, 1.0, 1e4):
        adapter = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=1e-2, anchor=anchor)
        for x in xs:
            adapter(x)
        distances[anchor] = distance_to_source(adapter)
    assert distances[0.0] > 0.1
    assert distances[1.0] < distances[0.0] / 5
    assert distances[1e4] < 1e-4  # ~at source: Adam's first steps leave a few 1e-4 per weight


def test_anchor_reaches_methods_that_step_the_optimizer_themselves():
    xs = shifted([16] * 4)
    free = methods.build("tcr-gd", ToyEncoder(), toy_gallery(40), lr=1e-2)
    anchored = methods.build("tcr-gd", ToyEncoder(), toy_gallery(40), lr=1e-2, anchor=1e4)
    for x in xs:
        free(x)
        anchored(x)
    assert distance_to_source(anchored) < distance_to_source(free) / 100
    assert anchored.angle_stats()["steps_measured"] > 0


# -- EMA teacher --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tcr", "tcr-gd"])
def test_teacher_momentum_zero_is_bit_identical_to_tcr(name):
    xs = shifted([16] * 4)
    default = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2)
    zero = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2, teacher_momentum=0.0)
    for x in xs:
        assert torch.equal(default(x), zero(x))
    assert all(torch.equal(a, b) for a, b in zip(default.params, zero.params, strict=True))


def test_teacher_changes_candidates_only_after_updates():
    xs = shifted([16] * 4)
    plain = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=5e-2, steps=1)
    teacher = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=5e-2, steps=1, teacher_momentum=0.9)
    student_nearest = teacher.gallery.scores(teacher.embed(xs[0]).detach()).argmax(dim=1)
    assert torch.equal(teacher.teacher_candidates(xs[0]), teacher.gallery.rows(student_nearest))
    # first batch: no update yet, so the teacher is the student and the run is plain TCR's
    assert torch.equal(plain(xs[0]), teacher(xs[0]))
    assert all(torch.equal(a, b) for a, b in zip(plain.params, teacher.params, strict=True))
    # after it, the teacher lags the student, and the candidates (hence the updates) differ
    student_nearest = teacher.gallery.scores(teacher.embed(xs[1]).detach()).argmax(dim=1)
    assert not torch.equal(teacher.teacher_candidates(xs[1]), teacher.gallery.rows(student_nearest))
    for x in xs[1:]:
        plain(x)
        teacher(x)
    assert any(not torch.equal(a, b) for a, b in zip(plain.params, teacher.params, strict=True))


def test_teacher_is_an_ema_of_the_weights_and_reset_restores_it():
    adapter = methods.build("tcr", ToyEncoder(), toy_gallery(40), lr=5e-2, steps=1, teacher_momentum=0.8)
    adapter(shifted([16])[0])  # one optimizer step: ema = 0.8·source + 0.2·θ
    for ema, param, source in zip(adapter._teacher, adapter.params, adapter._source, strict=True):
        torch.testing.assert_close(ema, 0.8 * source + 0.2 * param.detach(), atol=1e-6, rtol=0)
        assert not torch.equal(ema, source)
    for x in shifted([16] * 3, seed=4):
        adapter(x)
    adapter.reset()
    for ema, source in zip(adapter._teacher, adapter._source, strict=True):
        assert torch.equal(ema, source) and ema is not source


@pytest.mark.parametrize("name", ["tcr", "tcr-gd"])
def test_teacher_and_anchor_state_dict_round_trip(name):
    hp = {"lr": 1e-2, "teacher_momentum": 0.9, "anchor": 0.5}
    xs = shifted([16] * 6)
    straight = methods.build(name, ToyEncoder(), toy_gallery(40), **hp)
    want = [straight(x) for x in xs]
    first = methods.build(name, ToyEncoder(), toy_gallery(40), **hp)
    for x in xs[:3]:
        first(x)
    state = first.state_dict()
    assert len(state["extra"]["teacher"]) == len(first.params)
    resumed = methods.build(name, ToyEncoder(), toy_gallery(40), **hp)
    resumed.load_state_dict(state)
    for x, w in zip(xs[3:], want[3:], strict=True):
        torch.testing.assert_close(resumed(x), w, atol=1e-6, rtol=0)
    no_teacher = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2)
    with pytest.raises(ValueError, match="EMA teacher"):
        no_teacher.load_state_dict(state)


def test_teacher_candidates_come_from_the_whole_gallery_under_topk_recording():
    xs = shifted([16] * 5)
    hp = {"lr": 5e-2, "teacher_momentum": 0.95}
    dense = methods.build("tcr", ToyEncoder(), Gallery(toy_gallery(40), record="dense"), **hp)
    topk = methods.build("tcr", ToyEncoder(), Gallery(toy_gallery(40), record="topk"), **hp)
    for x in xs:
        values, indices = dense(x).topk(10, dim=1)
        found = topk(x)
        torch.testing.assert_close(found.values, values, atol=1e-6, rtol=0)
        assert torch.equal(found.indices, indices)


def test_tcr_free_accepts_teacher_momentum_and_has_no_teacher():
    adapter = methods.build("tcr-free", ToyEncoder(), toy_gallery(40), teacher_momentum=0.9, anchor=1.0)
    assert not adapter.has_teacher
    plain = methods.build("tcr-free", ToyEncoder(), toy_gallery(40))
    for x in shifted([16] * 3):
        assert torch.equal(adapter(x), plain(x))


def test_stability_options_are_hyper_parameters():
    for name in methods.names():
        assert "anchor" in methods.hparam_names(name)
    assert {name for name in methods.names() if "teacher_momentum" in methods.hparam_names(name)} == {
        "tcr",
        "tcr-free",
        "tcr-gd",
        "qshift",
    }


@pytest.mark.parametrize(
    "hp,message",
    [
        ({"anchor": -0.5}, "anchor must be a finite number >= 0, got -0.5"),
        ({"anchor": float("nan")}, "anchor must be a finite number >= 0, got nan"),
        ({"teacher_momentum": 1.0}, r"teacher_momentum must be in \[0, 1\), got 1.0"),
        ({"teacher_momentum": -0.1}, r"teacher_momentum must be in \[0, 1\), got -0.1"),
    ],
)
def test_bad_option_values_are_named(hp, message):
    with pytest.raises(ValueError, match=message):
        methods.build("tcr", ToyEncoder(), toy_gallery(40), **hp)


# -- drift reset ------------------------------------------------------------------------------------
def test_drift_policy_parsing():
    assert drift_threshold("drift") == 3.0
    assert drift_threshold("drift:2.5") == 2.5
    assert drift_threshold("continual") is None and drift_threshold(5) is None
    assert reset_interval("drift") is None and reset_interval("drift:4") is None
    for bad in ("drift:x", "drift:0", "drift:-1", "drift:nan", "drift:"):
        with pytest.raises(ValueError, match=f"reset policy '{bad}'"):
            reset_interval(bad)
    with pytest.raises(ValueError, match="got 'x'"):
        drift_threshold("drift:x")


def test_drift_detector_warms_up_and_restarts_after_a_jump():
    detector = DriftDetector(k=3.0)
    steady = [torch.full((8,), v) + torch.linspace(-0.01, 0.01, 8) for v in (0.5, 0.51, 0.49)]
    assert not any(detector.jumps(t) for t in steady)  # the warm-up batches never jump
    assert not detector.jumps(torch.full((8,), 0.5))
    assert detector.jumps(torch.full((8,), 0.9))
    # a fresh estimate: three more batches before anything can jump again
    assert not any(detector.jumps(torch.full((8,), v)) for v in (0.1, 0.9, 0.1))
    assert detector.jumps(torch.full((8,), 5.0))


@pytest.mark.parametrize("name", ["tent", "tcr"])
@pytest.mark.parametrize("seed", [0, 1])
def test_drift_reset_fires_on_a_switch_and_not_on_a_stationary_stream(name, seed):
    prototypes, gallery, gen = retrieval_world(seed)
    for noise in (0.3, 2.0):
        adapter = methods.build(name, ToyEncoder(), gallery, lr=1e-2)
        stationary = noisy_batches(prototypes, gen, 12, noise)
        result = run_stream(adapter, stationary, np.arange(40), reset="drift", geometry_before=False)
        assert result.drift_resets == 0, noise
    adapter = methods.build(name, ToyEncoder(), gallery, lr=1e-2)
    switch = noisy_batches(prototypes, gen, 6, 0.3) + noisy_batches(prototypes, gen, 6, 2.0)
    result = run_stream(adapter, switch, np.arange(40), reset="drift", geometry_before=False)
    assert [i for i, batch in enumerate(result.batches) if batch.drift_reset] == [6]
    assert result.drift_resets == 1
    assert adapter.batches_seen == 6  # counted from the reset on
    continual = run_stream(
        methods.build(name, ToyEncoder(), gallery, lr=1e-2), switch, np.arange(40), geometry_before=False
    )
    assert continual.drift_resets == 0 and not any(batch.drift_reset for batch in continual.batches)


def test_evaluate_takes_the_drift_policy():
    res = qshift.evaluate(
        ToyDualEncoder.build(), toy_dataset(), "i2t", "none", "source", batch_size=4, reset="drift:2"
    )
    assert res.stream is not None and res.queries == 24
    assert res.stream.drift_resets == sum(batch.drift_reset for batch in res.stream.batches)


# -- torchrun ---------------------------------------------------------------------------------------
def _stability_runs() -> dict:
    """Anchor (Tent, TCR with a teacher) and a drift stream; rank 1 gets no query of the last batch."""
    out = {}
    xs = shifted([16, 15, 1, 16])
    for name, hp in [("tent", {"anchor": 2.0}), ("tcr", {"anchor": 2.0, "teacher_momentum": 0.9})]:
        adapter = methods.build(name, ToyEncoder(), toy_gallery(40), lr=1e-2, **hp)
        out[name] = {
            "scores": [adapter(x) for x in xs],
            "params": [p.detach().clone() for p in adapter.params],
        }
    prototypes, gallery, gen = retrieval_world()
    switch = noisy_batches(prototypes, gen, 4, 0.3) + noisy_batches(prototypes, gen, 4, 2.0)
    result = run_stream(
        methods.build("tent", ToyEncoder(), gallery, lr=1e-2), switch, np.arange(40), reset="drift"
    )
    out["drift"] = {"resets": result.drift_resets, "r1": result.metrics["r1"]}
    return out


def _worker(rank: int, world_size: int, out_dir: str) -> None:
    join_as_rank(rank, world_size)
    with distributed.torchrun_session(init_method=f"file://{out_dir}/rendezvous-w{world_size}"):
        torch.save(_stability_runs(), Path(out_dir) / f"w{world_size}_rank{rank}.pt")


@pytest.mark.slow
def test_two_processes_match_one_with_anchor_teacher_and_drift(tmp_path):
    """The anchor's gradient counts once under torchrun: W = 2 reproduces the 1-process run."""
    for world_size in (1, 2):
        torch.multiprocessing.spawn(_worker, args=(world_size, str(tmp_path)), nprocs=world_size)
    one = torch.load(tmp_path / "w1_rank0.pt", weights_only=False)
    for rank in (0, 1):
        two = torch.load(tmp_path / f"w2_rank{rank}.pt", weights_only=False)
        for name in ("tent", "tcr"):
            for got, want in zip(
                two[name]["scores"] + two[name]["params"],
                one[name]["scores"] + one[name]["params"],
                strict=True,
            ):
                torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)
        assert two["drift"]["resets"] == one["drift"]["resets"] == 1
        assert two["drift"]["r1"] == pytest.approx(one["drift"]["r1"])
