"""A task of a third modality, 1-D signals against text, runs through ``qshift.evaluate``.

Nothing in the engine or the methods knows about signals: the test registers a task, a shift
and builds a model and a dataset, and every registered method runs on it. Also: excluded
gallery items (a composed query's reference) and multi-ground-truth queries end to end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest
import torch
from torch import nn

import qshift
from qshift import registry
from qshift.data.base import RetrievalDataset
from qshift.encoders.base import RetrievalModel
from qshift.tasks import Task

LENGTH = 16
CLASSES = 12


def jitter(signal: np.ndarray, severity: int, seed: int = 0, **options: object) -> np.ndarray:
    """The signal modality's own shift: a random circular shift of ``severity`` samples plus noise."""
    if signal.ndim != 1:
        raise ValueError(f"a signal is 1-D, got shape {signal.shape}")
    rng = np.random.default_rng(seed)
    moved = np.roll(signal, int(rng.choice([-1, 1])) * severity)
    return (moved + rng.normal(0, 0.1 * severity, size=signal.shape)).astype(np.float32)


class SignalTextModel(RetrievalModel):
    """Signals and the captions "signal <k>" embedded near the same basis vector e_k."""

    name = "toy-signals"
    modalities = ("signal", "text")

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.dim = LENGTH
        width = LENGTH
        self.signal = nn.Sequential(nn.Linear(LENGTH, width), nn.LayerNorm(width), nn.Linear(width, width))
        self.text = nn.Sequential(nn.Embedding(CLASSES, width), nn.LayerNorm(width), nn.Linear(width, width))
        with torch.no_grad():  # aligned towers: both map class k close to e_k
            for linear in (self.signal[0], self.signal[2], self.text[2]):
                linear.weight.copy_(torch.eye(LENGTH) + 0.05 * torch.randn(LENGTH, LENGTH))
                linear.bias.zero_()
            self.text[0].weight.copy_(torch.eye(LENGTH)[:CLASSES] * 4)

    def tower(self, modality: str) -> nn.Module:
        self.check_modality(modality)
        return self.signal if modality == "signal" else self.text

    def prepare(self, modality: str, items: Sequence) -> torch.Tensor:
        self.check_modality(modality)
        if modality == "signal":
            return torch.tensor(np.stack(items), dtype=torch.float32)
        return torch.tensor([int(text.split()[-1]) for text in items])


def signal_dataset(per_class: int = 8, seed: int = 0, **options: object) -> RetrievalDataset:
    """Signals near a class's basis vector (several per class); one caption per class."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(CLASSES), per_class)
    signals = [(np.eye(LENGTH)[g] * 3 + rng.normal(0, 0.3, LENGTH)).astype(np.float32) for g in groups]
    return RetrievalDataset(
        "toy-signals",
        items={"signal": signals, "text": [f"signal {k}" for k in range(CLASSES)]},
        groups={"signal": groups, "text": np.arange(CLASSES)},
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def signal_task() -> Iterator[Task]:
    """Register the s2t / t2s tasks and the jitter shift for one test."""
    s2t, t2s = Task("s2t", "signal", "text"), Task("t2s", "text", "signal")
    registry.register("task", "s2t", s2t, "signal queries, text gallery")
    registry.register("task", "t2s", t2s, "text queries, signal gallery")
    registry.register("shift", "jitter", jitter, "circular shift plus noise", modality="signal")
    yield s2t
    registry.unregister("task", "s2t")
    registry.unregister("task", "t2s")
    registry.unregister("shift", "jitter", modality="signal")


def test_signal_task_is_registered_like_the_built_in_ones(signal_task):
    assert qshift.shifts.names("signal") == ["jitter"]
    assert "s2t" in registry.names("task")
    shifted = qshift.shifts.apply("jitter", np.ones(LENGTH, np.float32), 2, seed=1, modality="signal")
    assert shifted.shape == (LENGTH,) and not np.allclose(shifted, 1)


@pytest.mark.parametrize("method", qshift.methods.names())
def test_every_method_runs_on_signal_queries(signal_task, method):
    model, data = SignalTextModel(), signal_dataset()
    result = qshift.evaluate(model, data, direction="s2t", shift="jitter@3", method=method, batch_size=16)
    assert result.direction == "s2t" and result.queries == CLASSES * 8
    assert set(result.metrics) >= {"r1", "r5", "r10", "r_mean", "map"}
    assert 0 <= result.metrics["r1"] <= 100
    after = [p.detach().clone() for p in model.parameters()]
    fresh = SignalTextModel()
    for kept, source in zip(after, fresh.parameters(), strict=True):
        torch.testing.assert_close(kept, source)  # evaluate leaves the source weights behind


def test_the_signal_shift_costs_points_and_text_queries_find_signals(signal_task):
    model, data = SignalTextModel(), signal_dataset()
    clean = qshift.evaluate(model, data, direction="s2t", shift="none", method="source")
    shifted = qshift.evaluate(model, data, direction="s2t", shift="jitter@5", method="source")
    assert clean.metrics["r1"] > 90 and shifted.metrics["r1"] < clean.metrics["r1"] - 20
    back = qshift.evaluate(model, data, direction="t2s", method="source", batch_size=4)
    assert back.queries == CLASSES and back.metrics["r1"] == 100


def test_excluded_items_never_rank_and_several_ground_truths_count(signal_task):
    model = SignalTextModel()
    n = CLASSES * 8
    # every signal query excludes its own caption: nothing relevant is left, so R@10 collapses
    excluded = signal_dataset(excluded={"s2t": [[k // 8] for k in range(n)]})
    blocked = qshift.evaluate(model, excluded, direction="s2t", method="tcr", batch_size=16)
    assert blocked.metrics["r10"] == 0
    # a query relevant to two captions (its class and the next) is a hit on either
    groups = [np.array([k // 8, (k // 8 + 1) % CLASSES]) for k in range(n)]
    two = signal_dataset(metrics=("r2", "map@2", "medr"))
    two.groups["signal"] = groups
    result = qshift.evaluate(model, two, direction="s2t", method="source", batch_size=16)
    assert result.metrics["r2"] == 100 and result.metrics["medr"] == 1
    assert result.to_json()["map@2"] == pytest.approx(result.metrics["map@2"], abs=1e-4)


def test_the_oracle_fits_signal_queries_and_masks_excluded_items(signal_task):
    from qshift.bench.oracle import oracle

    model, data = SignalTextModel(), signal_dataset()
    result = oracle(model, data, "s2t", "jitter@5", mode="heldout", epochs=3, batch_size=16, workers=0)
    assert result.queries == CLASSES * 8
    assert 0 <= result.metrics["r1"] <= 100 and 0 <= result.source_metrics["r1"] <= 100
    assert result.source_metrics["r1"] > 0
    # each query's one relevant text excluded: it can never rank first, fitted or not
    excluded = signal_dataset(excluded={"s2t": [[k // 8] for k in range(CLASSES * 8)]})
    masked = oracle(model, excluded, "s2t", "jitter@5", epochs=1, batch_size=16, workers=0)
    assert masked.metrics["r1"] == 0 and masked.source_metrics["r1"] == 0
