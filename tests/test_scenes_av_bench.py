"""scenes-av in the bench: its suites, the temporal scenario of video queries, and ``qshift run``."""

from __future__ import annotations

import json

import pytest
import torch

from qshift import registry
from qshift.bench import suite
from qshift.bench.scenarios import TEMPORAL_STAGES, run_scenario, scenario
from qshift.cli import main
from qshift.errors import UsageError
from qshift.scenes.vit import ViTConfig
from qshift.scenes_av.dataset import scenes_av_split
from qshift.scenes_av.model import DEFAULT_WEIGHTS, AVConfig, SceneAVEncoder
from qshift.scenes_av.towers import AudioConfig
from qshift.shifts import names

#: the keys of design.md's ``qshift run --json`` contract
CONTRACT = (
    "model", "dataset", "direction", "shift", "method", "r1", "r5", "r10", "r_mean", "map",
    "uniformity_before", "uniformity_after", "gap_before", "gap_after", "queries", "seconds",
)  # fmt: skip
TINY = AVConfig(
    frame=ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2, out_dim=32),
    audio=AudioConfig(width=32, depth=1, heads=2),
    embed_dim=16,
)


def test_suites_cover_every_audio_and_video_shift_at_severity_5():
    audio, video = suite("scenes-av-audio"), suite("scenes-av-video")
    assert (audio.model, audio.dataset, video.model, video.dataset) == ("scenes-av",) * 4
    assert [(t, str(s)) for t, s in audio.cells] == [("a2v", f"{n}@5") for n in names("audio")]
    assert [(t, str(s)) for t, s in video.cells] == [("v2a", f"{n}@5") for n in names("video")]
    assert len(audio.cells) == 6 and len(video.cells) == 18


def test_temporal_scenario_drifts_clean_then_noise_then_blur():
    chosen = scenario("temporal", "v2a")
    assert chosen.label == "temporal"
    plan = chosen.plan(24, 8, seed=0)
    adapted = [b for b in plan if not b.probe]
    levels = [str(s) for s in TEMPORAL_STAGES]
    assert levels == [
        "none",
        *(f"gaussian_noise@{v}" for v in range(1, 6)),
        *(f"motion_blur@{v}" for v in range(1, 6)),
    ]
    assert [b.label for b in adapted] == [label for label in levels for _ in range(3)]  # one pass per stage
    assert sum(b.probe for b in plan) == len(adapted) // 4
    with pytest.raises(UsageError, match="video queries"):
        scenario("temporal", "a2v")
    with pytest.raises(UsageError, match="i2t or t2i"):
        scenario("continual", "v2a")


def test_temporal_scenario_end_to_end_on_scenes_av(tmp_path, one_thread):
    torch.manual_seed(0)
    rows = run_scenario(
        SceneAVEncoder(TINY).eval(),
        scenes_av_split("test", 16),
        scenario("temporal", "v2a", probe_every=8),
        ["source", "tcr"],
        [0],
        tmp_path,
        batch_size=8,
        queries=8,
    )
    assert [r["method"] for r in rows] == ["source", "tcr"]
    for row in rows:
        assert row["stream"] == "temporal" and row["direction"] == "v2a" and row["queries"] == 11 * 8
        assert list(row["segments"]) == [str(s) for s in TEMPORAL_STAGES]
    assert "### temporal v2a" in (tmp_path / "scenarios.md").read_text()


@pytest.fixture
def small_scenes_av():
    """``scenes-av`` as its first 48 test clips, so that ``qshift run`` on the spec stays quick."""
    entry = registry.get("dataset", "scenes-av")
    registry.register(
        "dataset", "scenes-av", lambda spec, **options: scenes_av_split("test", 48), entry.doc,
        form=entry.form, replace=True,
    )  # fmt: skip
    yield
    registry.register("dataset", "scenes-av", entry.target, entry.doc, form=entry.form, replace=True)


needs_weights = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="the shipped scenes-av weights")


@needs_weights
@pytest.mark.parametrize(("direction", "shift"), [("a2v", "gaussian_noise@5"), ("v2a", "motion_blur@5")])
def test_qshift_run_prints_the_json_contract(direction, shift, small_scenes_av, capsys):
    argv = ["run", "--model", "scenes-av", "--dataset", "scenes-av", "--direction", direction]
    argv += ["--shift", shift, "--method", "tcr", "--json", "--batch-size", "16", "--workers", "1"]
    assert main(argv) == 0
    line = json.loads(capsys.readouterr().out)
    assert set(CONTRACT) <= set(line) and "medr" in line
    assert (line["model"], line["dataset"], line["direction"], line["shift"], line["method"]) == (
        "scenes-av", "scenes-av", direction, shift, "tcr",
    )  # fmt: skip
    assert line["queries"] == 48 and 0 <= line["r1"] <= line["r5"] <= line["r10"] <= 100
    assert line["medr"] >= 1 and line["uniformity_before"] is not None


@needs_weights
@pytest.mark.slow
@pytest.mark.parametrize(("direction", "shift"), [("a2v", "gaussian_noise@5"), ("v2a", "motion_blur@5")])
def test_qshift_run_on_the_whole_test_split(direction, shift, capsys):
    argv = ["run", "--model", "scenes-av", "--dataset", "scenes-av", "--direction", direction]
    assert main([*argv, "--shift", shift, "--method", "tcr", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert set(CONTRACT) <= set(line) and line["queries"] == 1000
