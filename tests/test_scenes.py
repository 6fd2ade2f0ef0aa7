"""The embedded scenes benchmark: generator, shipped source model and pretraining."""

from __future__ import annotations

import argparse
import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from qshift.cli.pretrain import register
from qshift.data.scenes import (
    RAW_SIZE,
    STYLES,
    generate_scenes,
    load_scenes_dataset,
    render_scene,
    scenes_split,
)
from qshift.encoders.scenes import DEFAULT_WEIGHTS, SceneEncoder, load_scenes_encoder
from qshift.encoders.vit import (
    GREY_AXIS,
    ViT,
    ViTConfig,
    contrast_normalise,
    local_contrast_normalise,
    opponent_normalise,
)
from qshift.pretrain import (
    DENSE_CLASSES,
    DenseHead,
    SceneStream,
    TrainConfig,
    augment_image,
    patch_labels,
    pretrain_scenes,
    recall_at_1,
)
from qshift.text_head import StandardisedProjection, fit_text_head


# ----------------------------------------------------------------------------- generator
def test_renders_and_captions_are_deterministic_per_seed():
    a, b, c = (scenes_split("val", 6, seed=s) for s in (0, 0, 1))
    assert a.texts == b.texts
    assert a.text_variants == b.text_variants
    for i in range(6):
        np.testing.assert_array_equal(a.images[i], b.images[i])
    assert a.texts != c.texts
    assert any(not np.array_equal(a.images[i], c.images[i]) for i in range(6))


def test_images_are_raw_rgb_at_224():
    img = scenes_split("test", 1).images[0]
    assert img.shape == (RAW_SIZE, RAW_SIZE, 3) and img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 3  # textured background plus objects


def test_splits_come_from_disjoint_streams():
    first = {split: generate_scenes(split, 20) for split in ("train", "val", "test")}
    for x, y in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not set(first[x]) & set(first[y])
        assert all(
            not np.array_equal(render_scene(p), render_scene(q))
            for p, q in zip(first[x], first[y], strict=True)
        )


def test_test_split_sizes_and_groups():
    ds = load_scenes_dataset("test")
    assert (ds.num_images, ds.num_texts) == (1000, 5000)
    np.testing.assert_array_equal(ds.image_groups, np.arange(1000))
    np.testing.assert_array_equal(ds.text_groups, np.repeat(np.arange(1000), 5))
    assert ds.name == "scenes"
    assert len(set(ds.texts)) > 4000  # captions vary
    with pytest.raises(IndexError):
        ds.images[1000]


def test_content_covers_the_specified_variety():
    scenes = generate_scenes("val", 400)
    objects = [o for s in scenes for o in s.objects]
    assert {len(s.objects) for s in scenes} == {1, 2, 3}
    assert len({o.shape for o in objects}) >= 8 and len({o.colour for o in objects}) == 10
    assert {o.size for o in objects} == {"small", "large"} and len({(o.row, o.col) for o in objects}) == 9
    assert len({s.background.kind for s in scenes}) >= 5


def test_text_variants_are_aligned_restyled_captions():
    ds = scenes_split("val", 40)
    assert set(ds.text_variants) == set(STYLES)
    for style, variant in ds.text_variants.items():
        assert len(variant) == len(ds.texts)
        changed = np.mean([v != t for v, t in zip(variant, ds.texts, strict=True)])
        assert changed > 0.95, style
    assert ds.text_variants["formal"] != ds.text_variants["casual"]


def test_training_captions_never_use_held_out_styles():
    train = scenes_split("train", 300, variants=False)
    assert train.text_variants == {}
    markers = (
        "depicts",
        " lol",
        "is drawn",
        "someone drew",
        "it gives",
        "backdrop",
        "is painted",
        "left from",
    )
    assert not [t for t in train.texts if any(m in t for m in markers)]
    relational = [t for t in train.texts if any(w in t for w in (" above ", " below ", " left of "))]
    assert len(relational) > 50


def test_bad_split_and_seed_are_rejected():
    with pytest.raises(ValueError, match="split"):
        load_scenes_dataset("dev")
    with pytest.raises(ValueError, match="seed"):
        load_scenes_dataset("val", seed=-1)


# ----------------------------------------------------------------------------- source model
#: the trained source weights ship with the package once issue 5's training recipe lands
SHIPPED = DEFAULT_WEIGHTS.is_file()
needs_shipped = pytest.mark.skipif(
    not SHIPPED, reason=f"shipped scenes weights not trained yet: {DEFAULT_WEIGHTS}"
)


@pytest.fixture(scope="module")
def encoder() -> SceneEncoder:
    """The shipped model; before it exists, the same architecture untrained (shape tests)."""
    return load_scenes_encoder() if SHIPPED else SceneEncoder()


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


@needs_shipped
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


def test_encoder_spec_loads_retrained_scenes_weights(tmp_path):
    from qshift.encoders import load_encoder

    tiny = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    weights = pretrain_scenes(tmp_path, steps=2, batch_size=4, train_images=4, vit=tiny, progress=False)
    assert load_encoder(f"scenes:{weights}").vit_config == tiny
    assert load_encoder("scenes").vit_config == load_scenes_encoder().vit_config
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        load_encoder(f"scenes:{tmp_path / 'nowhere.safetensors'}")


def test_missing_weights_name_the_file(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_scenes_encoder(missing)


@needs_shipped
def test_shipped_weights_stay_small():
    assert DEFAULT_WEIGHTS.stat().st_size < 8_000_000


# ----------------------------------------------------------------------------- pretraining
def test_augmentation_is_seeded_and_keeps_the_format():
    img = scenes_split("train", 1, variants=False).images[0][:128, :128]
    a = augment_image(img, np.random.default_rng(3))
    b = augment_image(img, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and a.dtype == np.uint8
    outs = [augment_image(img, np.random.default_rng(s), clean=0.0) for s in range(8)]
    assert len({o.tobytes() for o in outs}) == 8
    np.testing.assert_array_equal(augment_image(img, np.random.default_rng(3), clean=1.0), img)


def test_specks_layer_is_optional_and_keeps_the_stream_without_it():
    img = scenes_split("train", 1, variants=False).images[0][:64, :64]
    plain = [augment_image(img, np.random.default_rng(s), clean=0.0) for s in range(6)]
    # specks=0 draws no extra random number: the same images as before the option existed
    for s, out in enumerate(plain):
        np.testing.assert_array_equal(augment_image(img, np.random.default_rng(s), 0.0, specks=0.0), out)
    specked = [augment_image(img, np.random.default_rng(s), clean=0.0, specks=1.0) for s in range(6)]
    for a, b in zip(plain, specked, strict=True):
        assert b.shape == a.shape and b.dtype == np.uint8
        changed = np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 20
        assert 0.01 < changed.mean() < 0.9  # a partial layer over the scene, not a new image


def test_pretrain_stops_with_a_clear_error_when_the_loss_diverges(tmp_path):
    tiny = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    kw = dict(steps=4, batch_size=4, train_images=4, vit=tiny, progress=False, refit_images=0)
    with pytest.raises(FloatingPointError, match=r"diverged: the loss is nan at step \d+ of 4"):
        pretrain_scenes(tmp_path, lr=float("inf"), **kw)
    assert not list(tmp_path.glob("*.safetensors"))


def test_gradient_clipping_is_counted_and_changes_the_run_only_when_on(tmp_path):
    tiny = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    kw = dict(steps=3, batch_size=4, train_images=8, vit=tiny, progress=False, refit_images=0)
    plain = pretrain_scenes(tmp_path / "plain", **kw)
    clipped = pretrain_scenes(tmp_path / "clipped", grad_clip=1e-6, **kw)
    meta = json.loads(clipped.with_suffix(".json").read_text())
    assert meta["train"]["grad_clip"] == 1e-6 and meta["train"]["clipped_steps"] == 3
    assert json.loads(plain.with_suffix(".json").read_text())["train"]["clipped_steps"] == 0
    assert clipped.read_bytes() != plain.read_bytes()


def test_pretrain_smoke_run_writes_loadable_weights(tmp_path):
    tiny = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    weights = pretrain_scenes(
        tmp_path, seed=0, steps=10, batch_size=8, train_images=16, vit=tiny, progress=False
    )
    model = load_scenes_encoder(weights)
    assert model.vit_config == tiny
    assert model.embed_images([np.zeros((224, 224, 3), np.uint8)]).shape == (1, 256)
    again = pretrain_scenes(
        tmp_path / "b", seed=0, steps=10, batch_size=8, train_images=16, vit=tiny, progress=False
    )
    assert again.read_bytes() == weights.read_bytes()
    meta = json.loads(weights.with_suffix(".json").read_text())["train"]
    assert (meta["precision"], meta["hard_negatives"], meta["render_size"]) == ("bf16", True, 128)
    assert meta["torch_threads"] == torch.get_num_threads()


def test_pretrain_rejects_bad_precision_and_a_render_below_the_model_input(tmp_path):
    tiny = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    kw = dict(steps=1, batch_size=4, train_images=4, vit=tiny, progress=False)
    with pytest.raises(ValueError, match="precision"):
        pretrain_scenes(tmp_path, precision="fp8", **kw)
    with pytest.raises(ValueError, match="render-size 16"):
        pretrain_scenes(tmp_path, render_size=16, **kw)
    with pytest.raises(ValueError, match="negatives-per-caption"):
        pretrain_scenes(tmp_path, negatives_per_caption=0, **kw)
    with pytest.raises(ValueError, match="clean-fraction"):
        pretrain_scenes(tmp_path, clean_fraction=1.5, **kw)
    with pytest.raises(ValueError, match="specks"):
        pretrain_scenes(tmp_path, specks=-0.1, **kw)
    with pytest.raises(ValueError, match="specks-from"):
        pretrain_scenes(tmp_path, specks_from=-1, **kw)
    with pytest.raises(ValueError, match="grad-clip"):
        pretrain_scenes(tmp_path, grad_clip=-1.0, **kw)
    with pytest.raises(ValueError, match="refit-captions"):
        pretrain_scenes(tmp_path, refit_captions=6, **kw)


def test_text_head_fit_aligns_captions_with_their_frozen_images():
    torch.manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(64, 16), dim=-1)
    owner = torch.arange(64).repeat_interleave(2)
    feats = images[owner] @ torch.randn(16, 24) + 0.05 * torch.randn(128, 24)  # 2 captions per image
    head = StandardisedProjection(nn.Linear(24, 16), feats)

    def caption_to_image_top1() -> float:
        with torch.no_grad():
            sims = torch.nn.functional.normalize(head(feats), dim=-1) @ images.T
        return (sims.argmax(dim=1) == owner).float().mean().item()

    before = caption_to_image_top1()
    fit_text_head(head, feats, owner, images, epochs=300, seed=0)
    assert before < 0.3 and caption_to_image_top1() > 0.9
    linear = head.fold()  # folding keeps the function on raw features
    torch.testing.assert_close(linear(feats), head.proj(feats))


def test_pretrain_refits_the_text_head_after_the_image_tower(tmp_path):
    tiny = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    kw = dict(steps=3, batch_size=4, train_images=8, vit=tiny, progress=False)
    plain = load_scenes_encoder(pretrain_scenes(tmp_path / "plain", refit_images=0, **kw))
    refit_weights = pretrain_scenes(
        tmp_path / "refit", refit_images=6, refit_captions=2, refit_epochs=3, **kw
    )
    refit = load_scenes_encoder(refit_weights)
    # same image tower (the refit only touches the text projection), a different text head
    for a, b in zip(plain.vision.state_dict().values(), refit.vision.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(plain.text.proj.weight, refit.text.proj.weight)
    meta = json.loads(refit_weights.with_suffix(".json").read_text())["train"]
    assert (meta["refit_images"], meta["refit_captions"], meta["refit_epochs"]) == (6, 2, 3)
    assert meta["refit_minutes"] > 0


def test_pretrain_with_several_negatives_per_caption_and_no_augmentation_runs(tmp_path):
    tiny = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    weights = pretrain_scenes(
        tmp_path, steps=3, batch_size=4, train_images=8, vit=tiny, progress=False,
        negatives_per_caption=3, clean_fraction=1.0,
    )  # fmt: skip
    meta = json.loads(weights.with_suffix(".json").read_text())["train"]
    assert (meta["negatives_per_caption"], meta["clean_fraction"]) == (3, 1.0)


def test_patch_labels_mark_the_patches_each_object_covers():
    scene = generate_scenes("train", 1, seed=4)[0]
    labels = patch_labels(scene, grid=8)
    assert labels.shape == (64, 3) and labels.dtype == np.int64
    for obj in scene.objects:
        centre = int(obj.y * 8) * 8 + int(obj.x * 8)
        row = labels[centre]
        assert row[0] >= 1 and row[1] >= 1 and row[2] >= 1  # the patch at an object's centre
    background = (labels == 0).all(axis=1)
    assert background.any()  # and patches far from every object are unlabelled
    assert ((labels > 0).all(axis=1) | background).all()  # kinds are set together or not at all
    assert labels.max(axis=0).tolist() <= [c - 1 for c in DENSE_CLASSES]


def test_dense_head_loss_is_low_only_for_the_right_labels():
    torch.manual_seed(0)
    head = DenseHead(16)
    tokens = torch.randn(2, 4, 16)
    labels = torch.zeros(2, 4, 3, dtype=torch.long)
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    for _ in range(60):
        loss = head.loss(tokens, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert head.loss(tokens, labels) < 0.1 < head.loss(tokens, labels + 1)


def test_scene_stream_is_the_same_with_any_number_of_workers(monkeypatch):
    scenes = generate_scenes("train", 6, seed=0)
    cfg = TrainConfig(batch_size=4, train_images=6, augment=True)
    vit = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)
    single = list(itertools.islice(iter(SceneStream(scenes, 2, cfg, vit)), 4))

    def worker_batches(worker: int) -> list:
        info = SimpleNamespace(id=worker, num_workers=2)
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: info)
        return list(itertools.islice(iter(SceneStream(scenes, 2, cfg, vit)), 2))

    sharded = [b for pair in zip(worker_batches(0), worker_batches(1), strict=True) for b in pair]
    for a, b in zip(single, sharded, strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y)
    assert single[0][3].shape == (4, 16, 3)


def test_specks_start_at_the_step_given_by_specks_from():
    scenes = generate_scenes("train", 8, seed=0)
    vit = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)

    def images(**overrides: float) -> list[torch.Tensor]:
        cfg = TrainConfig(batch_size=8, train_images=8, clean_fraction=0.0, **overrides)
        return [batch[2] for batch in itertools.islice(iter(SceneStream(scenes, 1, cfg, vit)), 4)]

    plain, late, early = images(), images(specks=1.0, specks_from=2), images(specks=1.0)
    for step in range(4):
        torch.testing.assert_close(late[step], plain[step] if step < 2 else early[step])
    assert not torch.equal(early[0], plain[0]) and not torch.equal(late[3], plain[3])


def test_cli_registers_pretrain_scenes():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["pretrain", "scenes", "--steps", "5", "--seed", "3", "--out", "x"])
    assert (args.model, args.steps, args.seed, str(args.out)) == ("scenes", 5, 3, "x")
    assert (args.refit_images, args.refit_captions) == (TrainConfig.refit_images, TrainConfig.refit_captions)
    args = parser.parse_args(
        [
            "pretrain",
            "scenes",
            "--refit-images",
            "0",
            "--input-norm",
            "contrast",
            "--specks",
            "0.2",
            "--specks-from",
            "600",
            "--grad-clip",
            "1",
        ]
    )
    assert (args.refit_images, args.input_norm, args.specks, args.grad_clip) == (0, "contrast", 0.2, 1.0)
    assert args.specks_from == 600
    assert callable(args.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["pretrain", "coco"])
