"""Scenes pretraining: its config and flags, augmentation, batches, heads and (slow) tiny runs."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from qshift.cli.pretrain import register
from qshift.errors import ParameterError
from qshift.scenes.dataset import scenes_split
from qshift.scenes.generator import generate_scenes
from qshift.scenes.model import SceneEncoder, load_scenes_encoder
from qshift.scenes.pretrain.augment import augment_image
from qshift.scenes.pretrain.config import TrainConfig
from qshift.scenes.pretrain.dense import DENSE_CLASSES, DenseHead, patch_labels
from qshift.scenes.pretrain.stream import SceneStream
from qshift.scenes.pretrain.train import pretrain_scenes, save_scenes_model
from qshift.scenes.text_head import StandardisedProjection, fit_text_head
from qshift.scenes.vit import ViTConfig

TINY = ViTConfig(image_size=32, patch_size=8, width=32, depth=1, heads=2)


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
    single = list(itertools.islice(iter(SceneStream(scenes, 2, cfg, TINY)), 4))

    def worker_batches(worker: int) -> list:
        info = SimpleNamespace(id=worker, num_workers=2)
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: info)
        return list(itertools.islice(iter(SceneStream(scenes, 2, cfg, TINY)), 2))

    sharded = [b for pair in zip(worker_batches(0), worker_batches(1), strict=True) for b in pair]
    for a, b in zip(single, sharded, strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y)
    assert single[0][3].shape == (4, 16, 3)


def test_specks_start_at_the_step_given_by_specks_from():
    scenes = generate_scenes("train", 8, seed=0)

    def images(**overrides: float) -> list[torch.Tensor]:
        cfg = TrainConfig(batch_size=8, train_images=8, clean_fraction=0.0, **overrides)
        return [batch[2] for batch in itertools.islice(iter(SceneStream(scenes, 1, cfg, TINY)), 4)]

    plain, late, early = images(), images(specks=1.0, specks_from=2), images(specks=1.0)
    for step in range(4):
        torch.testing.assert_close(late[step], plain[step] if step < 2 else early[step])
    assert not torch.equal(early[0], plain[0]) and not torch.equal(late[3], plain[3])


# ----------------------------------------------------------------------------- config and flags
@pytest.mark.parametrize(
    "field, bad",
    [
        ("steps", 0),
        ("batch_size", 1),
        ("minutes", 0.0),
        ("workers", -1),
        ("negatives_per_caption", 0),
        ("clean_fraction", 1.5),
        ("specks", -0.1),
        ("specks_from", -1),
        ("grad_clip", -1.0),
        ("refit_captions", 6),
        ("refit_epochs", 0),
        ("precision", "fp8"),
    ],
)
def test_config_rejects_a_bad_value_naming_its_field(field, bad):
    with pytest.raises(ParameterError, match=field) as caught:
        TrainConfig(**{field: bad})
    assert caught.value.param == field


def test_pretrain_rejects_a_render_below_the_model_input(tmp_path):
    with pytest.raises(ParameterError, match="render_size 16 is below") as caught:
        pretrain_scenes(tmp_path, vit=TINY, render_size=16, progress=False)
    assert caught.value.param == "render_size"


def _pretrain_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser


def test_cli_flags_are_generated_from_every_config_field():
    parser = _pretrain_parser()
    pretrain = parser._subparsers._group_actions[0].choices["pretrain"]
    scenes = pretrain._subparsers._group_actions[0].choices["scenes"]
    actions = {a.dest: a for a in scenes._actions}
    for field in dataclasses.fields(TrainConfig):
        help_text = field.metadata["help"]
        assert help_text and actions[field.name].help.endswith(help_text), field.name
    args = parser.parse_args(["pretrain", "scenes"])
    defaults = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    assert defaults == TrainConfig()
    assert (args.input_norm, str(args.out), args.no_eval) == (
        "contrast+opponent",
        "runs/scenes_source",
        False,
    )


def test_cli_parses_the_documented_flags():
    parser = _pretrain_parser()
    args = parser.parse_args(["pretrain", "scenes", "--steps", "5", "--seed", "3", "--out", "x"])
    assert (args.target, args.steps, args.seed, str(args.out)) == ("scenes", 5, 3, "x")
    flags = (
        "--refit-images 0 --input-norm contrast --specks 0.2 --specks-from 600 --grad-clip 1 --minutes 2.5 "
        "--precision fp32 --no-augment --no-hard-negatives --lr 1e-3 --no-eval"
    )
    args = parser.parse_args(["pretrain", "scenes", *flags.split()])
    assert (args.refit_images, args.input_norm, args.specks, args.specks_from) == (0, "contrast", 0.2, 600)
    assert (args.grad_clip, args.minutes, args.precision, args.lr) == (1.0, 2.5, "fp32", 1e-3)
    assert (args.augment, args.hard_negatives, args.no_eval) == (False, False, True)
    assert callable(args.func)
    for bad in (["pretrain", "coco"], ["pretrain", "scenes", "--precision", "fp8"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_building_the_cli_imports_no_training_code():
    code = (
        "import sys; from qshift.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith('qshift.scenes.pretrain.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['qshift.scenes.pretrain.config']"


# ----------------------------------------------------------------------------- text head and saved models
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


def test_saved_untrained_model_loads_through_the_encoder_spec(tmp_path):
    from qshift.encoders import load_encoder

    torch.manual_seed(0)
    weights = save_scenes_model(SceneEncoder(TINY), tmp_path, TrainConfig(), {"steps_run": 0})
    loaded = load_encoder(f"scenes:{weights}", device="cpu")
    assert loaded.vit_config == TINY
    assert json.loads(weights.with_suffix(".json").read_text())["train"]["steps_run"] == 0
    assert loaded.embed_images([np.zeros((224, 224, 3), np.uint8)]).shape == (1, 256)


# ----------------------------------------------------------------------------- tiny runs (slow)
@pytest.mark.slow
def test_pretrain_smoke_run_writes_loadable_weights_reproducibly(tmp_path):
    kw = dict(steps=10, batch_size=8, train_images=16, vit=TINY, progress=False)
    weights = pretrain_scenes(tmp_path / "a", **kw)
    model = load_scenes_encoder(weights)
    assert model.vit_config == TINY
    assert model.embed_images([np.zeros((224, 224, 3), np.uint8)]).shape == (1, 256)
    again = pretrain_scenes(
        tmp_path / "b", TrainConfig(steps=10, batch_size=8, train_images=16), TINY, progress=False
    )
    assert again.read_bytes() == weights.read_bytes()  # a config or its fields as keywords: one run
    meta = json.loads(weights.with_suffix(".json").read_text())["train"]
    assert (meta["precision"], meta["hard_negatives"], meta["render_size"]) == ("bf16", True, 128)
    assert meta["torch_threads"] == torch.get_num_threads()


@pytest.mark.slow
def test_pretrain_stops_with_a_clear_error_when_the_loss_diverges(tmp_path):
    kw = dict(steps=4, batch_size=4, train_images=4, vit=TINY, progress=False, refit_images=0)
    with pytest.raises(FloatingPointError, match=r"diverged: the loss is nan at step \d+ of 4"):
        pretrain_scenes(tmp_path, lr=float("inf"), **kw)
    assert not list(tmp_path.glob("*.safetensors"))


@pytest.mark.slow
def test_gradient_clipping_is_counted_and_changes_the_run_only_when_on(tmp_path):
    kw = dict(steps=3, batch_size=4, train_images=8, vit=TINY, progress=False, refit_images=0)
    plain = pretrain_scenes(tmp_path / "plain", **kw)
    clipped = pretrain_scenes(tmp_path / "clipped", grad_clip=1e-6, **kw)
    meta = json.loads(clipped.with_suffix(".json").read_text())
    assert meta["train"]["grad_clip"] == 1e-6 and meta["train"]["clipped_steps"] == 3
    assert json.loads(plain.with_suffix(".json").read_text())["train"]["clipped_steps"] == 0
    assert clipped.read_bytes() != plain.read_bytes()


@pytest.mark.slow
def test_pretrain_refits_the_text_head_after_the_image_tower(tmp_path):
    kw = dict(steps=3, batch_size=4, train_images=8, vit=TINY, progress=False)
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


@pytest.mark.slow
def test_pretrain_with_several_negatives_per_caption_and_no_augmentation_runs(tmp_path):
    weights = pretrain_scenes(
        tmp_path, steps=3, batch_size=4, train_images=8, vit=TINY, progress=False,
        negatives_per_caption=3, clean_fraction=1.0,
    )  # fmt: skip
    meta = json.loads(weights.with_suffix(".json").read_text())["train"]
    assert (meta["negatives_per_caption"], meta["clean_fraction"]) == (3, 1.0)
