"""The supervised headroom oracle: its loss, that it finds the headroom, and that held-out is held out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from qshift.bench.oracle import cross_fit, half_split, oracle, supervised_loss
from qshift.gallery import Gallery
from qshift.metrics import GroupIndex

from toys import ToyDualEncoder, toy_dataset

D_IN, D_OUT, ITEMS = 16, 8, 128


class Tower(nn.Module):
    """LayerNorm → Linear; column 0 of the input is the query's id, which the tower ignores.

    It logs every forward: whether gradients were on, the ids it saw and its LayerNorm weights.
    """

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.norm = nn.LayerNorm(D_IN)
        self.head = nn.Linear(D_IN, D_OUT)
        self.log: list[tuple[bool, set[int], torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = {int(i) for i in x[:, 0]}
        self.log.append((torch.is_grad_enabled(), ids, self.norm.weight.detach().clone()))
        return self.head(self.norm(x[:, 1:]))


def synthetic(seed: int = 0) -> tuple[Tower, Gallery, np.ndarray, torch.Tensor]:
    """A tower that is perfect on clean inputs, and queries shifted by a per-feature rescaling."""
    tower = Tower()
    g = torch.Generator().manual_seed(seed)
    clean = torch.randn(ITEMS, D_IN, generator=g)
    with torch.no_grad():
        gallery = Gallery(F.normalize(tower.head(tower.norm(clean)), dim=-1))
    scale = torch.linspace(0.2, 3.0, D_IN)
    shifted = clean * scale + 0.1 * torch.randn(ITEMS, D_IN, generator=g)
    queries = torch.cat([torch.arange(ITEMS, dtype=torch.float32)[:, None], shifted], dim=1)
    tower.log.clear()
    return tower, gallery, np.arange(ITEMS), queries


def batches_of(queries: torch.Tensor, indices: np.ndarray, size: int = 16) -> list:
    chunks = [indices[i : i + size] for i in range(0, len(indices), size)]
    return [(queries[chunk], chunk, chunk) for chunk in chunks]  # (input, groups, query indices)


def test_supervised_loss_is_the_mass_on_the_relevant_items():
    gallery = Gallery(torch.eye(3))
    z = F.normalize(torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.2, 1.0]]), dim=-1)
    groups = np.array([0, 0, 1])  # items 0 and 1 are one group
    relevant, valid = GroupIndex(groups).relevant([0, 1])
    p = (z / 0.5).softmax(dim=1)
    want = -(torch.log(p[0, 0] + p[0, 1]) + torch.log(p[1, 2])) / 2
    got = supervised_loss(z, gallery, relevant, valid, temperature=0.5)
    torch.testing.assert_close(got, want)
    relevant, valid = GroupIndex(groups).relevant([7])  # no relevant item at all
    assert supervised_loss(z[:1], gallery, relevant, valid, temperature=0.5) is None


def test_half_split_is_a_seeded_partition():
    a, b = half_split(11, seed=3)
    assert len(a) == 5 and len(b) == 6
    assert sorted(np.concatenate([a, b]).tolist()) == list(range(11))
    again = half_split(11, seed=3)
    assert np.array_equal(a, again[0]) and not np.array_equal(a, half_split(11, seed=4)[0])


def run(mode: str, **kw):
    tower, gallery, groups, queries = synthetic()
    params = list(tower.norm.parameters())
    if mode == "transductive":
        parts, splits = [batches_of(queries, np.arange(ITEMS))], [(0, 0)]
    else:
        first, second = half_split(ITEMS, seed=0)
        parts, splits = [batches_of(queries, first), batches_of(queries, second)], [(0, 1), (1, 0)]
    settings = {"epochs": 10, "lr": 3e-2, "temperature": 0.05, **kw}
    return tower, *cross_fit(tower, params, gallery, groups, parts, splits, **settings)


@pytest.mark.parametrize("mode", ["transductive", "heldout"])
def test_the_oracle_beats_the_source_on_a_shifted_stream(mode):
    tower, metrics, source, per_split = run(mode)
    assert source["r1"] < 75
    assert metrics["r1"] > source["r1"] + 10
    assert len(per_split) == (1 if mode == "transductive" else 2)
    assert torch.equal(tower.norm.weight, torch.ones(D_IN))  # the source weights are back
    assert all(p.requires_grad for p in tower.parameters())  # and so are the gradient flags


def test_heldout_never_scores_a_query_with_a_model_fitted_on_it():
    tower, metrics, _, _ = run("heldout", epochs=3)
    source_weight = torch.ones(D_IN)
    fitted: set[int] = set()  # queries behind the current weights since they were last the source's
    scored_by_fitted: list[int] = []
    for grad, ids, weight in tower.log:
        if torch.equal(weight, source_weight):
            fitted = set()
        if grad:
            fitted |= ids
        elif not torch.equal(weight, source_weight):
            assert not ids & fitted
            scored_by_fitted.extend(ids)
    assert sorted(scored_by_fitted) == list(range(ITEMS))  # every query exactly once
    assert metrics["r1"] >= 0


def test_oracle_end_to_end_on_a_toy_dual_encoder():
    encoder, dataset = ToyDualEncoder.build(), toy_dataset(n_images=20)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    flags = {n: p.requires_grad for n, p in encoder.named_parameters()}
    result = oracle(encoder, dataset, "i2t", "gaussian_noise@3", epochs=2, lr=1e-2, batch_size=8, workers=1)
    assert set(result.metrics) == {"r1", "r5", "r10", "r_mean", "map"}
    assert result.mode == "heldout" and result.queries == 20
    fitted, scored = [f.fitted for f in result.folds], [f.scored for f in result.folds]
    assert np.array_equal(fitted[0], scored[1]) and np.array_equal(fitted[1], scored[0])
    assert sorted(np.concatenate(scored).tolist()) == list(range(20))
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert {n: p.requires_grad for n, p in encoder.named_parameters()} == flags
    whole = oracle(encoder, dataset, "t2i", "none", mode="transductive", epochs=1, batch_size=8, workers=1)
    assert np.array_equal(whole.folds[0].fitted, np.arange(dataset.num_texts))
    with pytest.raises(ValueError, match="oracle mode must be"):
        oracle(encoder, dataset, "i2t", mode="all")
