"""``qshift run`` on the six audio/video tasks: tiny CLAP, X-CLIP, CLIP frame mean and the
two-tower example of docs/audio-video.md on tiny AudioCaps, Clotho, MSR-VTT and AV-CSV fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from av_fixtures import (
    save_tiny_clap,
    save_tiny_xclip,
    write_audiocaps,
    write_avcsv,
    write_clotho,
    write_msrvtt,
)
from torch import nn

from qshift import registry
from qshift.cli import main
from qshift.encoders.base import RetrievalModel
from qshift.utils.signals import segment_middles

DOC = Path(__file__).resolve().parents[1] / "docs" / "audio-video.md"
CONTRACT = {
    "model", "dataset", "direction", "shift", "method", "r1", "r5", "r10", "r_mean", "map",
    "uniformity_before", "uniformity_after", "gap_before", "gap_after", "queries", "seconds", "medr",
}  # fmt: skip


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_clip_dir) -> dict[str, str]:
    return {
        "clap": f"hf:{save_tiny_clap(tmp_path_factory.mktemp('clap'))}",
        "xclip": f"hf:{save_tiny_xclip(tmp_path_factory.mktemp('xclip'))}",
        "clip": f"hf:{tiny_clip_dir}",
    }


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, str]:
    return {
        "audiocaps": write_audiocaps(tmp_path_factory.mktemp("audiocaps")).spec,
        "clotho": write_clotho(tmp_path_factory.mktemp("clotho")).spec,
        "msrvtt": write_msrvtt(tmp_path_factory.mktemp("msrvtt")).spec,
        "avcsv": write_avcsv(tmp_path_factory.mktemp("avcsv")).spec,
    }


def example_namespace() -> dict:
    """The two-tower example of docs/audio-video.md, executed."""
    block = re.search(r"<!-- example: two-towers -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert block, f"{DOC} lost its two-tower example"
    namespace: dict = {}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)
    return namespace


def toy_av_model() -> RetrievalModel:
    """The docs' AudioVideoModel over two small towers with LayerNorms (random weights)."""
    torch.manual_seed(0)

    def audio_features(waves):
        rows = [np.resize(np.asarray(w, np.float32), 16000).reshape(32, -1) for w in waves]
        return torch.tensor(np.stack([np.log1p((r**2).mean(axis=1)) for r in rows]))

    def video_features(clips):
        picked = [np.asarray(c)[segment_middles(len(c), 4)].mean(axis=(1, 2)) / 255 for c in clips]
        return torch.tensor(np.stack(picked).reshape(len(clips), -1), dtype=torch.float32)

    audio = nn.Sequential(nn.Linear(32, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 8))
    video = nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 8))
    model_class = example_namespace()["AudioVideoModel"]
    return model_class(audio, video, audio_features, video_features, dim=8, name="toy-av")


@pytest.fixture
def toy_av_spec():
    registry.register(
        "encoder", "toy-av", lambda spec, **_: toy_av_model(), "test two-tower model", form="toy-av"
    )
    yield "toy-av"
    registry.unregister("encoder", "toy-av")


def run_json(capsys, *flags: str, batch_size: int = 2) -> dict:
    assert main(["run", *flags, "--method", "tcr", "--batch-size", str(batch_size), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("model", "dataset", "direction", "shift", "queries"),
    [
        ("clap", "audiocaps", "a2t", "rain@5", 4),
        ("clap", "clotho", "t2a", "ocr@5", 15),
        ("xclip", "msrvtt", "v2t", "motion_blur@3", 4),
        ("xclip", "msrvtt", "t2v", "none", 4),
        ("clip", "msrvtt", "v2t", "frame_shuffle@5", 4),
        ("clip", "msrvtt", "t2v", "char_swap@3", 4),
    ],
)
def test_hf_backbones_run_on_their_tasks(capsys, models, datasets, model, dataset, direction, shift, queries):
    flags = (
        "--model",
        models[model],
        "--dataset",
        datasets[dataset],
        "--direction",
        direction,
        "--shift",
        shift,
    )
    result = run_json(capsys, *flags, batch_size=2 if queries < 8 else 8)
    assert set(result) == CONTRACT
    assert result["direction"] == direction and result["queries"] == queries
    assert 0 <= result["r1"] <= result["r5"] <= result["r10"] <= 100
    assert result["medr"] >= 1 and result["uniformity_before"] is not None


@pytest.mark.parametrize(("direction", "shift"), [("a2v", "gaussian_noise@5"), ("v2a", "motion_blur@5")])
def test_two_tower_example_runs_video_audio_retrieval(capsys, datasets, toy_av_spec, direction, shift):
    result = run_json(
        capsys,
        "--model",
        toy_av_spec,
        "--dataset",
        datasets["avcsv"],
        "--direction",
        direction,
        "--shift",
        shift,
    )
    assert set(result) == CONTRACT and result["queries"] == 4 and result["shift"] == shift


def test_example_model_adapts_its_query_tower_norms():
    model = toy_av_model()
    assert model.modalities == ("audio", "video")
    assert model.query_tower("a2v") is model.tower("audio")
    assert model.embed("video", [np.zeros((3, 8, 8, 3), np.uint8)]).shape == (1, 8)


def test_cli_user_errors_are_one_line(capsys, models, datasets, tmp_path):
    assert (
        main(["run", "--model", models["clap"], "--dataset", datasets["msrvtt"], "--direction", "a2t"]) == 2
    )
    assert "has no audio items for task a2t" in capsys.readouterr().err.strip().splitlines()[-1]
    (tmp_path / "c.csv").write_text("file_name,caption\nx.wav,\n")
    code = main(
        [
            "run",
            "--model",
            models["clap"],
            "--dataset",
            f"clotho:{tmp_path / 'c.csv'}:{tmp_path}",
            "--direction",
            "a2t",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{tmp_path / 'c.csv'}: line 2 has an empty 'caption'" in err[0]
    assert (
        main(["run", "--model", models["xclip"], "--dataset", datasets["audiocaps"], "--direction", "a2t"])
        == 2
    )
    assert "embeds video, text, not 'audio'" in capsys.readouterr().err
