"""The ``scenes-av`` model: towers, prepare steps, log-mel features, saving, loading, pretraining."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qshift.encoders import load_encoder
from qshift.encoders.base import stats_file
from qshift.methods.params import select_parameters
from qshift.scenes.vit import ViTConfig
from qshift.scenes_av.dataset import clip_audio, clip_video, scenes_av_split
from qshift.scenes_av.features import LogMel, MelConfig, mel_filterbank
from qshift.scenes_av.model import (
    AVConfig,
    SceneAVEncoder,
    frame_indices,
    load_scenes_av_encoder,
    save_scenes_av_model,
)
from qshift.scenes_av.towers import AudioConfig
from qshift.stats import compute_source_stats

TINY = AVConfig(
    frame=ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2, out_dim=32),
    audio=AudioConfig(width=32, depth=1, heads=2),
    embed_dim=16,
)


@pytest.fixture(scope="module")
def tiny() -> SceneAVEncoder:
    torch.manual_seed(0)
    return SceneAVEncoder(TINY).eval()


def test_log_mel_puts_a_tone_in_the_band_of_its_pitch():
    cfg = MelConfig()
    filters = mel_filterbank(cfg)
    assert filters.shape == (cfg.n_mels, cfg.n_fft // 2 + 1) and float(filters.max()) <= 1.0
    t = np.arange(cfg.samples) / cfg.sample_rate
    low, high = (0.3 * np.sin(2 * np.pi * f * t).astype(np.float32) for f in (300.0, 2000.0))
    spec = LogMel(cfg)([low, high])
    assert spec.shape == (2, 1, cfg.n_mels, cfg.frames)
    band_low, band_high = (int(spec[i, 0].mean(dim=1).argmax()) for i in range(2))
    assert band_low < band_high
    # shorter waveforms are padded with silence, longer ones cut
    short = LogMel(cfg)([low[:8000], np.concatenate([low, low])])
    silence = (np.log(cfg.floor) - cfg.mean) / cfg.std
    assert torch.allclose(short[1], spec[0])
    assert float(short[0, 0, :, -5:].max()) == pytest.approx(silence, abs=1e-4)


def test_bad_items_are_named(tiny):
    with pytest.raises(ValueError, match="audio item 1"):
        tiny.prepare("audio", [np.zeros(100, np.float32), np.zeros((2, 100), np.float32)])
    with pytest.raises(ValueError, match="video item 0"):
        tiny.prepare("video", [np.zeros((8, 32, 32), np.uint8)])
    with pytest.raises(ValueError, match="list of video items"):
        tiny.prepare("video", np.zeros((8, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="not 'text'"):
        tiny.prepare("text", ["a red circle"])


def test_prepare_picks_frames_evenly_and_resizes(tiny):
    assert frame_indices(16, 8).tolist() == [0, 2, 4, 6, 9, 11, 13, 15]
    assert frame_indices(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    clips = [clip_video("val", 0), clip_video("val", 1)[:5, :48, :40]]
    batch = tiny.prepare("video", clips)
    assert batch.shape == (2, 8, 3, 32, 32) and batch.dtype == torch.float32
    assert tiny.video(batch).shape == (2, 16)
    assert tiny.audio(tiny.prepare("audio", [clip_audio("val", 0)])).shape == (1, 16)


def test_both_query_towers_have_layer_norms_to_adapt(tiny):
    for task in ("a2v", "v2a"):
        tower = tiny.query_tower(task)
        params = select_parameters(tower, "norm")
        norms = [m for m in tower.modules() if isinstance(m, torch.nn.LayerNorm)]
        assert norms and len(params) == 2 * len(norms)


def test_weights_round_trip_through_safetensors_and_json(tiny, tmp_path):
    weights = save_scenes_av_model(tiny, tmp_path, {"steps": 0})
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["train"] == {"steps": 0} and meta["model"]["embed_dim"] == 16
    loaded = load_encoder(f"scenes-av:{weights}", device="cpu")
    assert loaded.config == TINY and loaded.name == "scenes-av"
    data = scenes_av_split("val", 6)
    for modality in ("video", "audio"):
        a, b = tiny.embed(modality, data.items[modality]), loaded.embed(modality, data.items[modality])
        assert torch.allclose(a, b, atol=2e-2)  # fp16 weights
    weights.with_suffix(".json").write_text(json.dumps({"model": {"frames": 8}}))
    with pytest.raises(ValueError, match="missing"):
        load_scenes_av_encoder(weights)
    with pytest.raises(FileNotFoundError, match="pretrain scenes-av"):
        load_scenes_av_encoder(tmp_path / "none.safetensors")


def test_clean_statistics_are_stored_beside_the_weights_and_found_there(tiny, tmp_path):
    weights = save_scenes_av_model(tiny, tmp_path, {"steps": 0})
    loaded = load_encoder(f"scenes-av:{weights}", device="cpu")
    assert loaded.source_stats_path("a2v") is None
    stats = compute_source_stats(loaded, scenes_av_split("val", 6), "a2v", batch_size=3)
    written = stats.save(stats_file(loaded.stats_anchor, "a2v"))
    assert written == weights.with_name(f"{weights.stem}.stats-a2v.safetensors")
    again = load_encoder(f"scenes-av:{weights}", device="cpu")
    assert again.source_stats_path("a2v") == written and again.source_stats_path("v2a") is None


@pytest.mark.slow
def test_a_tiny_pretraining_run_trains_and_loads_back(tmp_path):
    from qshift.scenes_av.pretrain import TrainConfig, evaluate_splits, pretrain_scenes_av

    cfg = TrainConfig(steps=6, batch_size=8, train_clips=16, workers=0)
    weights = pretrain_scenes_av(tmp_path, cfg, TINY, progress=False)
    train = json.loads(weights.with_suffix(".json").read_text())["train"]
    assert train["steps"] == 6 and train["torch_threads"] >= 1 and len(train["loss_curve"]) == 6
    assert train["cpu_minutes"] > 0 and np.isfinite(train["loss_curve"]).all()
    model = load_scenes_av_encoder(weights)
    trained = model.video.proj.weight
    assert not torch.allclose(trained, SceneAVEncoder(TINY).video.proj.weight)
    scores = evaluate_splits(weights, ("val",))["val"]
    assert set(scores) == {"a2v_r1", "v2a_r1"} and all(0 <= v <= 100 for v in scores.values())
