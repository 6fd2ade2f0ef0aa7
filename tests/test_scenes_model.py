"""The scenes source model: its towers, the ViT's input normalisations, loading and specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from qshift.scenes.dataset import scenes_split
from qshift.scenes.model import DEFAULT_WEIGHTS, SceneEncoder, load_scenes_encoder
from qshift.scenes.pretrain.evaluate import recall_at_1
from qshift.scenes.vit import (
    GREY_AXIS,
    ViT,
    ViTConfig,
    contrast_normalise,
    local_contrast_normalise,
    opponent_normalise,
)


@pytest.fixture(scope="module")
def encoder() -> SceneEncoder:
    """The shipped model."""
    return load_scenes_encoder()


def test_encoder_embeds_both_modalities(encoder):
    ds = scenes_split("val", 3)
    imgs = encoder.embed_images([ds.images[i] for i in range(3)])
    txts = encoder.embed_texts(ds.texts[:4])
    assert imgs.shape == (3, 256) and txts.shape == (4, 256)
    assert torch.allclose(imgs.norm(dim=-1), torch.ones(3), atol=1e-4)
    raw = encoder.image_tower()(encoder.prepare_images([ds.images[0]]))
    assert raw.shape == (1, 256)
    assert encoder.text_tower()(encoder.prepare_texts(["a red star"])).shape == (1, 256)


def test_prepare_images_takes_any_size_and_rejects_bad_arrays(encoder):
    rng = np.random.default_rng(0)
    batch = encoder.prepare_images(
        [rng.integers(0, 256, (100, 150, 3), dtype=np.uint8), np.zeros((40, 30, 3), np.uint8)]
    )
    size = encoder.vit_config.image_size
    assert batch.shape == (2, 3, size, size) and batch.dtype == torch.float32
    with pytest.raises(ValueError, match="uint8"):
        encoder.prepare_images([np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(ValueError, match="H×W×3"):
        encoder.prepare_images([np.zeros((32, 32), np.uint8)])


def test_towers_expose_layernorm_affine_params(encoder):
    for tower in (encoder.image_tower(), encoder.text_tower()):
        norms = [m for m in tower.modules() if isinstance(m, nn.LayerNorm)]
        assert len(norms) >= 9
        assert all(m.weight is not None and m.bias is not None for m in norms)


def test_text_tower_is_deterministic_in_train_mode(encoder):
    batch = encoder.prepare_texts(["a big blue ring in the centre", "a red star"])
    tower = encoder.text_tower()
    with torch.no_grad():
        tower.train()
        a = tower(batch)
        tower.eval()
        b = tower(batch)
    torch.testing.assert_close(a, b)


def test_contrast_input_norm_sees_a_low_contrast_copy_as_the_image():
    torch.manual_seed(0)
    images = torch.randn(2, 3, 32, 32) + torch.tensor([0.5, -0.2, 0.1]).view(1, 3, 1, 1)
    mean = images.mean(dim=(2, 3), keepdim=True)
    faded = mean + 0.05 * (images - mean)  # the contrast corruption: deviations shrunk, means kept
    normalised = contrast_normalise(images)
    torch.testing.assert_close(contrast_normalise(faded), normalised, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(normalised.mean(dim=(2, 3)), images.mean(dim=(2, 3)))  # colour cast kept
    assert (
        (normalised - normalised.mean(dim=(2, 3), keepdim=True))
        .pow(2)
        .mean(dim=(1, 2, 3))
        .allclose(torch.ones(2), atol=1e-3)
    )
    config = dict(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    contrast, fixed = (
        ViT(ViTConfig(**config, input_norm="contrast")),
        ViT(ViTConfig(**config, input_norm="fixed")),
    )
    fixed.load_state_dict(contrast.state_dict())
    torch.testing.assert_close(contrast(faded), contrast(images), atol=5e-3, rtol=0)
    assert not torch.allclose(fixed(faded), fixed(images), atol=5e-2)


def test_local_input_norm_also_removes_a_slow_veil():
    torch.manual_seed(0)
    images = torch.randn(2, 3, 64, 64)
    mean = images.mean(dim=(2, 3), keepdim=True)
    faded = mean + 0.1 * (images - mean)
    torch.testing.assert_close(
        local_contrast_normalise(faded), local_contrast_normalise(images), atol=1e-2, rtol=1e-2
    )
    ramp = torch.linspace(0, 3, 64).view(1, 1, 1, 64).expand(2, 3, 64, 64)  # a veil brighter to the right
    inner = (slice(None), slice(None), slice(16, 48), slice(16, 48))  # away from the padded borders

    def change(normalise) -> float:
        veiled, plain = normalise(images + ramp), normalise(images)
        shift = veiled.mean(dim=(2, 3), keepdim=True) - plain.mean(dim=(2, 3), keepdim=True)
        return (veiled - shift - plain)[inner].abs().mean().item()

    assert change(local_contrast_normalise) < 0.1 < change(contrast_normalise)


def _chroma(images: torch.Tensor) -> torch.Tensor:
    axis = torch.tensor(GREY_AXIS).view(1, 3, 1, 1)
    axis = axis / axis.norm()
    detail = images - images.mean(dim=(2, 3), keepdim=True)
    return detail - (detail * axis).sum(dim=1, keepdim=True) * axis


def test_opponent_input_norm_restores_the_colours_under_a_grey_veil():
    torch.manual_seed(0)
    images = torch.randn(2, 3, 32, 32)
    veil = 4 * torch.rand(2, 1, 32, 32)  # fog-like: light added equally to R, G and B, varying in space
    fogged = 0.25 * images + veil * torch.tensor(GREY_AXIS).view(1, 3, 1, 1)
    plain, veiled = opponent_normalise(images), opponent_normalise(fogged)
    torch.testing.assert_close(_chroma(veiled), _chroma(plain), atol=1e-3, rtol=1e-3)
    assert not torch.allclose(
        _chroma(contrast_normalise(fogged)), _chroma(contrast_normalise(images)), atol=0.1
    )
    torch.testing.assert_close(veiled.mean(dim=(2, 3)), fogged.mean(dim=(2, 3)))  # colour cast kept
    luminance = (veiled - veiled.mean(dim=(2, 3), keepdim=True)) - _chroma(veiled)
    assert luminance.pow(2).sum(dim=1).mean(dim=(1, 2)).allclose(torch.ones(2), atol=1e-3)  # unit RMS


def test_opponent_input_norm_does_not_blow_up_a_grey_image():
    torch.manual_seed(0)
    grey = torch.rand(1, 1, 32, 32) * torch.tensor(GREY_AXIS).view(1, 3, 1, 1)
    noisy = grey + 1e-3 * torch.randn(1, 3, 32, 32)  # quantisation-sized colour noise
    chroma = _chroma(opponent_normalise(noisy))
    assert chroma.pow(2).mean().sqrt() < 0.2  # divided by the floor, not by its own tiny RMS
    tower = ViT(ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2, input_norm="opponent"))
    assert torch.isfinite(tower(noisy)).all()


def test_stacked_input_norm_feeds_both_normalisations_to_a_six_channel_stem():
    torch.manual_seed(0)
    config = dict(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    stacked = ViT(ViTConfig(**config, input_norm="contrast+opponent"))
    contrast = ViT(ViTConfig(**config, input_norm="contrast"))
    first = stacked.patch_embed[0]
    assert first.in_channels == 6
    with torch.no_grad():  # blind the stem to the opponent half: the tower is a contrast tower
        first.weight[:, 3:] = 0
        state = stacked.state_dict()
        state["patch_embed.0.weight"] = first.weight[:, :3].clone()
    contrast.load_state_dict(state)
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(stacked(images), contrast(images))


def test_vit_config_reads_old_json_and_rejects_unknown_input_norms():
    old = {k: v for k, v in ViTConfig().to_dict().items() if k != "input_norm"}
    assert ViTConfig.from_dict(old).input_norm == "fixed"  # weights saved before the field existed
    with pytest.raises(ValueError, match="input_norm"):
        ViTConfig(input_norm="instance")


def test_shipped_model_retrieves_well_above_chance(encoder):
    scores = recall_at_1(encoder, scenes_split("val", 60))
    assert scores["i2t_r1"] > 40 and scores["t2i_r1"] > 30  # chance is 1/60


def test_encoder_spec_loads_the_shipped_model_and_names_a_missing_file(tmp_path):
    from qshift.encoders import load_encoder

    assert load_encoder("scenes", device="cpu").vit_config == load_scenes_encoder().vit_config
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        load_encoder(f"scenes:{tmp_path / 'nowhere.safetensors'}", device="cpu")


def test_missing_weights_name_the_file(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_scenes_encoder(missing)


def test_shipped_weights_stay_small():
    assert DEFAULT_WEIGHTS.stat().st_size < 8_000_000
