"""The online loop, reset policies, streams and ``qshift.evaluate`` on a toy dual encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qshift
import qshift.methods as methods
from qshift.engine import reset_interval, run_stream
from qshift.shifts import streams
from qshift.shifts.spec import ShiftSpec, parse_shift

from toys import ToyDualEncoder, ToyEncoder, toy_batches, toy_dataset, toy_gallery

CONTRACT = {
    "model", "dataset", "direction", "shift", "method", "r1", "r5", "r10", "r_mean", "map",
    "uniformity_before", "uniformity_after", "gap_before", "gap_after", "queries", "seconds",
}  # fmt: skip


def planned(xs):
    """Wrap raw toy batches as the engine's (planned batch, input, groups) triples."""
    offset = 0
    for x in xs:
        idx = np.arange(offset, offset + len(x))
        offset += len(x)
        yield streams.PlannedBatch(idx, (ShiftSpec("none"),) * len(x), "toy"), x, idx % 40


def test_default_order_is_seeded_randperm():
    plan = streams.single(150, "none", 64, seed=0)
    order = np.concatenate([b.indices for b in plan])
    assert np.array_equal(order, torch.randperm(150, generator=torch.Generator().manual_seed(0)).numpy())
    assert [len(b) for b in plan] == [64, 64, 22]


def test_episodic_reset_equals_fresh_adapter_per_batch():
    xs = toy_batches([16] * 4)
    adapter = methods.build("tent", ToyEncoder(), toy_gallery(40), lr=1e-2)
    episodic = run_stream(adapter, planned(xs), np.arange(40), reset="episodic", geometry_before=False)
    fresh = []
    for x in xs:
        one = methods.build("tent", ToyEncoder(), toy_gallery(40), lr=1e-2)
        fresh.append(one(x))
    from qshift.metrics import RetrievalMetrics

    metrics = RetrievalMetrics(np.arange(40))
    for (_, _, groups), scores in zip(planned(xs), fresh, strict=True):
        metrics.update(scores, groups)
    assert episodic.metrics == pytest.approx(metrics.compute())


def test_reset_interval_parsing():
    assert reset_interval("continual") is None
    assert reset_interval("episodic") == 1
    assert reset_interval("5") == 5
    with pytest.raises(ValueError, match="reset policy"):
        reset_interval("sometimes")


def test_stream_builders_are_deterministic_and_shaped():
    shifts = ["gaussian_noise@5", "fog@5"]
    c1 = streams.continual(100, shifts, 32, seed=3, batches_per_shift=2, rounds=3)
    c2 = streams.continual(100, shifts, 32, seed=3, batches_per_shift=2, rounds=3)
    assert [b.label for b in c1] == ["gaussian_noise@5"] * 2 + ["fog@5"] * 2 + ["gaussian_noise@5"] * 2 + [
        "fog@5"
    ] * 2 + ["gaussian_noise@5"] * 2 + ["fog@5"] * 2
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(c1, c2, strict=True))
    g = streams.gradual(100, "fog", batch_size=50, batches_per_level=1)
    assert [b.shifts[0].severity for b in g] == [1, 2, 3, 4, 5, 4, 3, 2, 1]
    m = streams.mixed(200, shifts, 64, seed=1)
    kinds = {s.name for b in m for s in b.shifts}
    assert kinds == {"gaussian_noise", "fog"}
    assert m.num_queries == 200
    labels = np.arange(90) % 3
    s = streams.sorted_by(labels, "none", 30, seed=0)
    assert [set(labels[b.indices]) for b in s] == [{0}, {1}, {2}]
    p = streams.with_probes(streams.single(200, "fog@5", 50), 200, every=2, probe_size=20)
    assert [b.probe for b in p] == [False, False, True, False, False, True]
    with pytest.raises(ValueError, match="batch size"):
        streams.single(10, "none", 0)


def test_parse_shift():
    assert parse_shift("fog@3") == ShiftSpec("fog", 3)
    assert parse_shift("none").is_clean
    assert str(parse_shift("ocr")) == "ocr@5"
    with pytest.raises(ValueError, match="severity must be an integer"):
        parse_shift("fog@x")


@pytest.mark.parametrize(
    "direction,shift", [("i2t", "gaussian_noise@3"), ("t2i", "char_swap@5"), ("i2t", "none")]
)
def test_evaluate_contract_and_weights_restored(direction, shift):
    encoder, dataset = ToyDualEncoder.build(), toy_dataset()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    res = qshift.evaluate(encoder, dataset, direction=direction, shift=shift, method="tcr", batch_size=8)
    out = res.to_json()
    assert set(out) == CONTRACT
    assert out["queries"] == (24 if direction == "i2t" else 48)
    assert 0 <= out["r1"] <= out["r5"] <= out["r10"] <= 100
    assert out["uniformity_before"] is not None and out["gap_after"] >= 0
    assert all(torch.equal(v, before[k]) for k, v in encoder.state_dict().items())


@pytest.mark.parametrize("method", methods.names())
def test_batch_size_one_through_engine(method):
    res = qshift.evaluate(ToyDualEncoder.build(), toy_dataset(12), "i2t", "none", method, batch_size=1)
    assert res.queries == 12 and np.isfinite(res.metrics["r1"])


def test_evaluate_rejects_wrong_modality_shift():
    with pytest.raises(ValueError, match="is a text shift but the queries of this task are image"):
        qshift.evaluate(ToyDualEncoder.build(), toy_dataset(), "i2t", "ocr@5", "source")


def test_probe_batches_are_scored_not_adapted():
    encoder, dataset = ToyDualEncoder.build(), toy_dataset()
    plan = streams.with_probes(streams.single(24, "gaussian_noise@5", 8), 24, every=1, probe_size=8)
    res = qshift.evaluate(encoder, dataset, "i2t", method="tent", stream=plan, hparams={"lr": 1e-2})
    assert res.queries == 24  # probes do not count as queries
    assert res.stream.probe_metrics is not None and res.stream.probe_source_metrics is not None
    assert sum(b.probe for b in res.stream.batches) == 3
