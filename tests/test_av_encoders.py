"""CLAP, X-CLIP and CLIP frame-mean video through ``hf:<dir>`` on tiny random checkpoints."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from av_fixtures import (
    CLAP_FRAMES,
    CLAP_MELS,
    CLAP_RATE,
    TINY_IMAGE,
    XCLIP_FRAMES,
    clip,
    save_tiny_clap,
    save_tiny_xclip,
    tone,
)
from torch import nn

from qshift.encoders import load_encoder
from qshift.encoders.hf import HFEncoder, HFRetrievalModel
from qshift.utils.signals import resample


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    return save_tiny_clap(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="module")
def clap(clap_dir) -> HFRetrievalModel:
    return load_encoder(f"hf:{clap_dir}", device="cpu")


@pytest.fixture(scope="module")
def fused_clap(tmp_path_factory) -> HFRetrievalModel:
    return load_encoder(
        f"hf:{save_tiny_clap(tmp_path_factory.mktemp('tiny-clap-fused'), fusion=True)}", device="cpu"
    )


@pytest.fixture(scope="module")
def xclip(tmp_path_factory) -> HFRetrievalModel:
    return load_encoder(f"hf:{save_tiny_xclip(tmp_path_factory.mktemp('tiny-xclip'))}", device="cpu")


@pytest.fixture(scope="module")
def clip_model(tiny_clip_dir) -> HFEncoder:
    return load_encoder(f"hf:{tiny_clip_dir}", device="cpu")


def names_of(tower: nn.Module, params: list[nn.Parameter]) -> set[str]:
    by_id = {id(p): name for name, p in tower.named_parameters()}
    return {by_id[id(p)] for p in params}


def layer_norm_names(tower: nn.Module) -> set[str]:
    return {
        f"{name}.{kind}"
        for name, module in tower.named_modules()
        if isinstance(module, nn.LayerNorm)
        for kind in ("weight", "bias")
    }


# -- CLAP -----------------------------------------------------------------------------------------
def test_clap_is_an_audio_text_model(clap):
    assert clap.family == "clap" and clap.modalities == ("audio", "text") and clap.dim == 24
    audio = clap.embed("audio", [tone(0), tone(1, 0.4)])
    text = clap.embed("text", ["a dog barks", "rain on a roof"])
    assert audio.shape == text.shape == (2, 24)
    torch.testing.assert_close(audio.norm(dim=1), torch.ones(2))
    assert clap.query_tower("a2t") is clap.tower("audio") and clap.gallery_tower("a2t") is clap.tower("text")
    with pytest.raises(ValueError, match="not 'image'"):
        clap.tower("image")


def test_clap_prepare_gives_log_mels_at_the_extractor_rate(clap, clap_dir):
    """16 kHz waveforms come out as the checkpoint's feature extractor computes 32 kHz audio
    (short clips: the extractor's deterministic path), one channel, one window each."""
    from transformers import ClapFeatureExtractor

    waves = [tone(0, 0.5), tone(1, 1.0), tone(2, 2.5)]
    batch = clap.prepare("audio", waves)
    assert batch["input_features"].shape == (3, 1, CLAP_FRAMES, CLAP_MELS)
    assert batch["input_features"].dtype == torch.float32
    assert batch["is_longer"].tolist() == [[False], [False], [True]]
    extractor = ClapFeatureExtractor.from_pretrained(clap_dir)
    for wave, features in zip(waves[:2], batch["input_features"][:2], strict=True):
        at_rate = resample(wave, 16000, CLAP_RATE)
        expected = extractor(at_rate, sampling_rate=CLAP_RATE, return_tensors="np")["input_features"][0]
        np.testing.assert_allclose(features.numpy(), expected, rtol=1e-4, atol=1e-3)


def test_clap_long_clips_keep_their_centre_window(clap):
    log_mel = clap.prepares["audio"]
    wave = resample(tone(3, 2.5), 16000, CLAP_RATE)
    start = (len(wave) - log_mel.max_samples) // 2
    features = clap.prepare("audio", [tone(3, 2.5)])["input_features"][0, 0].numpy()
    np.testing.assert_allclose(features, log_mel.mel(wave[start : start + log_mel.max_samples]), rtol=1e-5)


def test_clap_input_rate_is_a_setting(clap):
    """Waveforms at another rate are resampled from it: the same sound at 16 and 32 kHz."""
    log_mel = clap.prepares["audio"]
    at_16k = clap.prepare("audio", [tone(4)])["input_features"]
    log_mel.input_rate = CLAP_RATE
    try:
        at_32k = clap.prepare("audio", [resample(tone(4), 16000, CLAP_RATE)])["input_features"]
    finally:
        log_mel.input_rate = 16000
    torch.testing.assert_close(at_16k, at_32k)


def test_clap_fused_features_are_deterministic_and_batch_independent(fused_clap):
    waves = [tone(5, 0.7), tone(6, 3.0)]
    batch = fused_clap.prepare("audio", waves)
    assert batch["input_features"].shape == (2, 4, CLAP_FRAMES, CLAP_MELS)
    assert batch["is_longer"].tolist() == [[False], [True]]
    torch.testing.assert_close(batch["input_features"], fused_clap.prepare("audio", waves)["input_features"])
    short = batch["input_features"][0]
    assert all(torch.equal(short[0], short[k]) for k in range(1, 4))  # a short clip: four copies
    together = fused_clap.embed("audio", waves)
    alone = torch.cat([fused_clap.embed("audio", [w]) for w in waves])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_clap_presets_take_every_layer_norm_and_no_batch_norm(clap):
    audio = clap.query_tower("a2t")
    chosen = names_of(audio, clap.adapt_params("a2t")(audio))
    assert chosen == layer_norm_names(audio)
    assert "audio_model.audio_encoder.norm.weight" in chosen
    assert not any("batch_norm" in name for name in chosen)
    text = clap.query_tower("t2a")
    assert names_of(text, clap.adapt_params("t2a")(text)) == layer_norm_names(text)


def test_clap_text_is_cut_to_the_positions_it_has(clap):
    tokens = clap.prepare("text", ["word " * 100, "short"])
    assert set(tokens) == {"input_ids", "attention_mask"}
    assert tokens["input_ids"].shape[1] == 42 - 0 - 1  # RoBERTa positions after the padding id 0
    assert clap.embed("text", ["word " * 100]).shape == (1, 24)


def test_clap_rejects_bad_waveforms(clap):
    with pytest.raises(ValueError, match="audio item 1 must be a non-empty 1-D float waveform"):
        clap.prepare("audio", [tone(0), np.zeros((10, 2), np.float32)])
    with pytest.raises(ValueError, match="audio item 0"):
        clap.prepare("audio", [np.zeros(0, np.float32)])


def test_clap_feature_size_must_match_the_mel_bins(clap_dir, tmp_path):
    bad = tmp_path / "bad-clap"
    shutil.copytree(clap_dir, bad)
    settings = json.loads((bad / "preprocessor_config.json").read_text())
    (bad / "preprocessor_config.json").write_text(json.dumps({**settings, "feature_size": 64}))
    with pytest.raises(
        ValueError, match=r"preprocessor_config.json: feature_size 64 differs .*num_mel_bins 16"
    ):
        load_encoder(f"hf:{bad}", device="cpu")


# -- X-CLIP ---------------------------------------------------------------------------------------
def test_xclip_is_a_video_text_model(xclip):
    assert xclip.family == "xclip" and xclip.modalities == ("video", "text") and xclip.dim == 24
    videos = xclip.embed("video", [clip(0), clip(1, frames=3)])
    texts = xclip.embed("text", ["a red square", "a blue square moves"])
    assert videos.shape == texts.shape == (2, 24)
    assert not torch.allclose(videos[0], videos[1])


def test_xclip_video_prepare_resamples_to_its_frame_count(xclip):
    batch = xclip.prepare("video", [clip(0, frames=6), clip(1, frames=2, height=50, width=30)])
    assert batch["pixel_values"].shape == (2, XCLIP_FRAMES, 3, TINY_IMAGE, TINY_IMAGE)
    assert batch["frame_mask"].all()
    # segment middles of 6 frames in 4: frames 0, 2, 3, 5
    alone = xclip.prepare("video", [clip(0, frames=6)[[0, 2, 3, 5]]])["pixel_values"]
    torch.testing.assert_close(batch["pixel_values"][:1], alone)


def test_xclip_text_is_the_unconditioned_embedding(xclip):
    """The text tower leaves out the video-specific prompt: text_projection of the pooled text."""
    tokens = xclip.prepare("text", ["a red square moves left"])
    model = xclip._model
    with torch.no_grad():
        pooled = model.text_model(**tokens).pooler_output
        expected = model.text_projection(pooled)
        torch.testing.assert_close(xclip.tower("text")(tokens), expected)


def test_xclip_presets_take_every_layer_norm_of_the_query_tower(xclip):
    video = xclip.query_tower("v2t")
    chosen = names_of(video, xclip.adapt_params("v2t")(video))
    assert chosen == layer_norm_names(video)
    assert any(name.startswith("mit.") for name in chosen) and any(
        name.startswith("vision_model.") for name in chosen
    )
    text = xclip.query_tower("t2v")
    assert "text_model.final_layer_norm.weight" in names_of(text, xclip.adapt_params("t2v")(text))


def test_xclip_rejects_bad_clips(xclip):
    with pytest.raises(ValueError, match=r"video item 1 must be a non-empty \(T, H, W, 3\) uint8 clip"):
        xclip.prepare("video", [clip(0), clip(1).astype(np.float32)])


# -- CLIP frame mean ------------------------------------------------------------------------------
def test_clip_gains_a_frame_mean_video_tower(clip_model):
    assert clip_model.modalities == ("image", "text", "video", "image+text")
    video = clip(2, frames=5)
    frames = clip_model.embed("image", list(video))
    expected = torch.nn.functional.normalize(frames.mean(dim=0), dim=0)
    torch.testing.assert_close(clip_model.embed("video", [video])[0], expected, atol=1e-5, rtol=1e-4)


def test_clip_video_batches_pad_and_mask_clips_of_other_lengths(clip_model):
    clips = [clip(3, frames=5), clip(4, frames=2)]
    batch = clip_model.prepare("video", clips)
    assert batch["pixel_values"].shape == (2, 5, 3, TINY_IMAGE, TINY_IMAGE)
    assert batch["frame_mask"].tolist() == [[True] * 5, [True, True, False, False, False]]
    together = clip_model.embed("video", clips)
    alone = torch.cat([clip_model.embed("video", [c]) for c in clips])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_clip_video_tower_adapts_the_image_tower(clip_model):
    video, image = clip_model.query_tower("v2t"), clip_model.query_tower("i2t")
    assert video.frames is image
    assert {id(p) for p in clip_model.adapt_params("v2t")(video)} == {
        id(p) for p in clip_model.adapt_params("i2t")(image)
    }
    assert not any(key.startswith("towers.video") for key in clip_model.state_dict())
    text = clip_model.query_tower("t2v")
    assert names_of(text, clip_model.adapt_params("t2v")(text)) == names_of(
        text, clip_model.adapt_params("t2i")(text)
    )
