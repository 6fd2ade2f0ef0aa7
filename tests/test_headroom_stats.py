"""Clean-query statistics: collection by hooks, padding masks, the safetensors round trip, errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from qshift.methods.source_stats import SourceStats, collect_source_stats, norm_layers
from qshift.stats import compute_source_stats

from toys import ToyDualEncoder, ToyEncoder, toy_batches, toy_dataset


def test_collected_stats_equal_a_direct_computation_over_all_batches():
    encoder = ToyEncoder()
    batches = toy_batches([5, 3, 7])
    stats = collect_source_stats(encoder, batches)
    x = torch.cat(batches)
    hidden = encoder.body[1](encoder.body[0](x))  # first LayerNorm's output
    out = encoder(x)
    assert set(stats.layers) == {"body.1", "body.4"}
    torch.testing.assert_close(stats.layers["body.1"][0], hidden.mean(dim=0), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        stats.layers["body.1"][1], hidden.var(dim=0, unbiased=False), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(stats.layers["body.4"][1], out.var(dim=0, unbiased=False), atol=1e-6, rtol=0)
    z = nn.functional.normalize(out, dim=-1)
    torch.testing.assert_close(stats.embedding_mean, z.mean(dim=0), atol=1e-6, rtol=0)
    torch.testing.assert_close(stats.embedding_var, z.var(dim=0, unbiased=False), atol=1e-6, rtol=0)
    assert stats.queries == 15


class MaskedTower(nn.Module):
    """(B, T, 4) token features → LayerNorm → mean over real tokens → (B, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4)
        with torch.no_grad():
            self.norm.weight.copy_(torch.tensor([1.0, 2.0, 0.5, 1.5]))

    def forward(self, batch):
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return (self.norm(batch["x"]) * mask).sum(dim=1) / mask.sum(dim=1)


def test_padding_tokens_do_not_enter_the_statistics():
    tower = MaskedTower()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    stats = collect_source_stats(tower, [{"x": x, "attention_mask": mask}])
    garbage = x.clone()
    garbage[mask == 0] = 1e3  # different padding, same real tokens
    again = collect_source_stats(tower, [{"x": garbage, "attention_mask": mask}])
    torch.testing.assert_close(stats.layers["norm"][0], again.layers["norm"][0], atol=1e-6, rtol=0)
    real = tower.norm(x)[mask.bool()]  # the 9 real tokens
    torch.testing.assert_close(stats.layers["norm"][0], real.mean(dim=0), atol=1e-6, rtol=0)
    torch.testing.assert_close(stats.layers["norm"][1], real.var(dim=0, unbiased=False), atol=1e-5, rtol=0)


def test_round_trip_through_safetensors(tmp_path):
    stats = collect_source_stats(ToyEncoder(), toy_batches([6, 6]), meta={"model": "toy", "direction": "i2t"})
    path = stats.save(tmp_path / "stats" / "toy.safetensors")
    loaded = SourceStats.load(path)
    assert loaded.queries == 12
    assert loaded.meta == {"model": "toy", "direction": "i2t"}
    assert set(loaded.layers) == set(stats.layers)
    assert torch.equal(loaded.embedding_mean, stats.embedding_mean)
    assert torch.equal(loaded.embedding_var, stats.embedding_var)
    for name, (mean, var) in stats.layers.items():
        assert torch.equal(loaded.layers[name][0], mean)
        assert torch.equal(loaded.layers[name][1], var)


def test_load_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        SourceStats.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="bad.safetensors: not a readable"):
        SourceStats.load(bad)
    other = tmp_path / "other.safetensors"
    save_file({"embedding.mean": torch.zeros(2)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(ValueError, match="other.safetensors: metadata field 'format'"):
        SourceStats.load(other)
    partial = tmp_path / "partial.safetensors"
    metadata = {"format": "qshift-source-stats", "version": "1", "queries": "4"}
    save_file({"embedding.mean": torch.zeros(2), "embedding.var": torch.ones(2),
               "layer.a.mean": torch.zeros(3)}, str(partial), metadata=metadata)  # fmt: skip
    with pytest.raises(ValueError, match="partial.safetensors: tensor 'layer.a.var' is missing"):
        SourceStats.load(partial)
    save_file({"embedding.mean": torch.zeros(2)}, str(partial), metadata={**metadata, "queries": "x"})
    with pytest.raises(ValueError, match="metadata field 'queries'"):
        SourceStats.load(partial)


def test_norm_layers_are_the_layers_whose_affine_parameters_adapt():
    assert list(norm_layers(ToyEncoder())) == ["body.1", "body.4"]
    with pytest.raises(ValueError, match="no normalisation layers"):
        collect_source_stats(nn.Linear(3, 3), [torch.zeros(2, 3)])


def test_compute_source_stats_takes_clean_queries_of_a_dataset():
    encoder, dataset = ToyDualEncoder.build(), toy_dataset(n_images=20)
    stats = compute_source_stats(encoder, dataset, "i2t", queries=13, batch_size=4, workers=1)
    assert stats.queries == 13
    assert stats.meta == {"model": "toy", "dataset": "toy", "direction": "i2t"}
    assert set(stats.layers) == {"2"}  # the image tower's LayerNorm
    everything = compute_source_stats(encoder, dataset, "t2i", workers=1)
    assert everything.queries == dataset.num_texts
    assert json.dumps(everything.meta)  # metadata stays plain strings
    with pytest.raises(ValueError, match="queries must be >= 1"):
        compute_source_stats(encoder, dataset, "i2t", queries=0)
