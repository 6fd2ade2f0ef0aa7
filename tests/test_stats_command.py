"""``qshift stats`` writes clean-query statistics beside a model, where every run then finds them."""

from __future__ import annotations

import shutil

import pytest

from qshift.api import default_hparams
from qshift.cli import main
from qshift.data import load_dataset
from qshift.encoders import load_encoder
from qshift.methods.source_stats import SourceStats


def test_stats_are_written_beside_the_model_and_reach_the_methods(
    tmp_path, tiny_clip_dir, tiny_karpathy, capsys
):
    model = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, model)
    argv = ["stats", "--model", f"hf:{model}", "--dataset", tiny_karpathy.spec, "--direction", "i2t"]
    assert main(argv) == 0
    written = model / "qshift.stats-i2t.safetensors"
    assert f"wrote {written}" in capsys.readouterr().out
    stats = SourceStats.load(written)
    assert stats.queries == len(tiny_karpathy.images) and stats.layers
    encoder, data = load_encoder(f"hf:{model}", device="cpu"), load_dataset(tiny_karpathy.spec)
    assert encoder.source_stats_path("i2t") == written and encoder.source_stats_path("t2i") is None
    assert default_hparams(encoder, data, "recenter", "i2t")["stats"] == str(written)
    assert "stats" not in default_hparams(encoder, data, "recenter", "t2i")


def test_stats_of_a_query_subset_go_to_the_given_file(tmp_path, tiny_karpathy, capsys):
    out = tmp_path / "stats.safetensors"
    argv = [
        "stats",
        "--model",
        "scenes",
        "--dataset",
        tiny_karpathy.spec,
        "--direction",
        "t2i",
        "--queries",
        "8",
    ]
    assert main([*argv, "--out", str(out)]) == 0
    assert SourceStats.load(out).queries == 8
    with pytest.raises(ValueError, match="not found"):
        SourceStats.load(tmp_path / "missing.safetensors")
