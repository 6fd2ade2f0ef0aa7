"""Source-statistics alignment: the loss by hand, zero at the clean statistics, and what it moves."""

from __future__ import annotations

import pytest
import torch

import qshift.methods as methods
from qshift.methods.align import alignment_loss, batch_stats
from qshift.methods.source_stats import SourceStats, collect_source_stats

from toys import ToyEncoder, toy_batches, toy_gallery


def test_alignment_loss_by_hand():
    rows = {"a": torch.tensor([[1.0, 2.0], [3.0, 6.0]]), "b": torch.tensor([[0.0], [1.0], [2.0]])}
    current = batch_stats(
        rows, {name: r.shape[1] for name, r in rows.items()}
    )  # a: mean (2, 4), var (1, 4); b: mean 1, var 2/3
    reference = {
        "a": (torch.tensor([1.0, 4.0]), torch.tensor([1.0, 1.0])),
        "b": (torch.zeros(1), torch.ones(1)),
    }
    want = (0.5 * (1.0 + 0.0) + 0.5 * (0.0 + 3.0)) + (1.0 + 1 / 3)
    assert float(alignment_loss(current, reference)) == pytest.approx(want, rel=1e-6)


def test_loss_is_zero_at_the_clean_statistics_and_positive_under_a_shift():
    encoder = ToyEncoder()
    (clean,) = toy_batches([48])
    stats = collect_source_stats(encoder, [clean])
    adapter = methods.build("align", encoder, toy_gallery(30), stats=stats)
    with adapter.alignment.capture(clean):
        z = adapter.embed(clean)
    loss, _ = adapter.objective(z, clean, 0)
    assert float(loss.detach()) < 1e-5
    shifted = 3.0 * clean + 1.0
    z = adapter.embed(shifted)
    loss, _ = adapter.objective(z, shifted, 0)
    assert float(loss.detach()) > 0.05


def test_adapting_on_a_shifted_stream_moves_the_statistics_back():
    encoder = ToyEncoder()
    stats = collect_source_stats(encoder, toy_batches([256] * 4, seed=5))
    adapter = methods.build("align", encoder, toy_gallery(30), stats=stats, lr=3e-2)
    scale = torch.linspace(0.2, 3.0, 12)  # a per-feature rescaling and offset of the inputs
    shifted = [x * scale + 1.0 for x in toy_batches([128] * 12, seed=6)]

    def loss_on(x: torch.Tensor) -> float:
        with torch.no_grad():
            adapter.embed(x)
        return float(
            alignment_loss(
                batch_stats(adapter.alignment.recorder.rows, adapter.alignment.widths), stats.layers
            )
        )

    clean_floor = loss_on(toy_batches([128], seed=7)[0])  # sampling noise of a clean batch
    before = loss_on(shifted[0])
    assert before > 3 * clean_floor
    for x in shifted:
        adapter(x)
    assert loss_on(shifted[0]) < 0.4 * before
    adapter.reset()
    assert loss_on(shifted[0]) == pytest.approx(before, rel=1e-6)


def test_without_statistics_the_first_batch_is_the_reference():
    adapter = methods.build("align", ToyEncoder(), toy_gallery(30), lr=1e-2)
    first, second = toy_batches([32, 32])
    z = adapter.embed(first)
    loss, _ = adapter.objective(z, first, 0)
    assert float(loss.detach()) == 0.0
    z = adapter.embed(3 * second)
    loss, _ = adapter.objective(z, second, 0)
    assert float(loss.detach()) > 0
    adapter.reset()
    assert adapter.alignment.reference is None


def test_statistics_must_describe_the_towers_layers():
    stats = collect_source_stats(ToyEncoder(), toy_batches([8]))
    wrong = SourceStats(stats.embedding_mean, stats.embedding_var, {"body.1": stats.layers["body.1"]}, 8)
    with pytest.raises(ValueError, match=r"missing \['body.4'\]"):
        methods.build("align", ToyEncoder(), toy_gallery(30), stats=wrong)
    narrow = SourceStats(
        stats.embedding_mean,
        stats.embedding_var,
        {**stats.layers, "body.4": (torch.zeros(3), torch.ones(3))},
        8,
    )
    adapter = methods.build("align", ToyEncoder(), toy_gallery(30), stats=narrow)
    with pytest.raises(ValueError, match="layer 'body.4' have 3 features, the layer outputs 8"):
        adapter(toy_batches([8])[0])


def test_statistics_load_from_a_path(tmp_path):
    encoder = ToyEncoder()
    path = collect_source_stats(encoder, toy_batches([16])).save(tmp_path / "s.safetensors")
    adapter = methods.build("align", encoder, toy_gallery(30), stats=str(path))
    assert set(adapter.stats.layers) == {"body.1", "body.4"}
    with pytest.raises(ValueError, match="stats must be a SourceStats or a path"):
        methods.build("align", encoder, toy_gallery(30), stats=3)


def test_a_checkpoint_keeps_the_first_batch_reference():
    adapter = methods.build("align", ToyEncoder(), toy_gallery(30), lr=1e-2)
    first, second = toy_batches([32, 32])
    adapter(first)
    resumed = methods.build("align", ToyEncoder(), toy_gallery(30), lr=1e-2)
    assert resumed.alignment.reference is None
    resumed.load_state_dict(adapter.state_dict())
    for name, (mean, var) in adapter.alignment.reference.items():
        assert torch.equal(resumed.alignment.reference[name][0], mean)
        assert torch.equal(resumed.alignment.reference[name][1], var)
    z = resumed.embed(3 * second)
    loss, _ = resumed.objective(z, second, 0)
    assert float(loss.detach()) > 0
