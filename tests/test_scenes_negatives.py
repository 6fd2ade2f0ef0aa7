"""Hard-negative captions for scenes pretraining: false, and worded like the true caption."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from qshift.scenes.captions import caption_plans
from qshift.scenes.dataset import scenes_split
from qshift.scenes.generator import PURPOSE_CAPTIONS, generate_scenes, scene_rng
from qshift.scenes.negatives import MAX_NEGATIVE_VARIANTS, describes, hard_negative_caption
from qshift.scenes.pretrain.train import clip_loss


def _plans(scenes, split="train"):
    return [caption_plans(s, scene_rng(0, split, i, PURPOSE_CAPTIONS)) for i, s in enumerate(scenes)]


def test_every_caption_describes_its_own_scene():
    scenes = generate_scenes("train", 40, seed=0)
    for scene, plans in zip(scenes, _plans(scenes), strict=True):
        assert all(describes(plan, scene, scene) for plan in plans)


def test_describes_rejects_a_changed_shape_and_a_wrong_count():
    scene = next(s for s in generate_scenes("train", 50, seed=0) if len(s.objects) == 2)
    plan = caption_plans(scene, scene_rng(0, "train", 0, PURPOSE_CAPTIONS))[0]  # a full caption
    changed = dataclasses.replace(
        scene,
        objects=(
            dataclasses.replace(
                scene.objects[0], shape="moon" if scene.objects[0].shape != "moon" else "ring"
            ),
        )
        + scene.objects[1:],
    )
    assert not describes(plan, scene, changed)
    assert not describes(plan, scene, dataclasses.replace(scene, objects=scene.objects[:1]))


def test_hard_negatives_are_deterministic_false_and_differ_from_the_true_caption():
    n = 30
    scenes = generate_scenes("train", n, seed=0)
    texts = scenes_split("train", n, seed=0, variants=False).texts
    found = 0
    for i, scene in enumerate(scenes):
        for slot in range(5):
            negative = hard_negative_caption(scene, "train", i, slot)
            assert negative == hard_negative_caption(scene, "train", i, slot)
            if negative is None:
                continue
            found += 1
            assert negative != texts[5 * i + slot]
    assert found >= 0.9 * 5 * n


def test_clip_loss_hard_negatives_only_touch_the_image_to_text_side():
    torch.manual_seed(0)
    img, txt, neg = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    scale = torch.tensor(2.0)
    plain = clip_loss(img, txt, scale)
    assert clip_loss(img, txt, scale, neg, torch.zeros(4, dtype=torch.bool)) == plain
    assert clip_loss(img, txt, scale, neg) > plain  # extra negatives can only raise the i2t loss


def test_negative_variants_are_independent_draws_and_out_of_range_variants_fail():
    scenes = generate_scenes("train", 20, seed=0)
    pairs = [
        (
            hard_negative_caption(s, "train", i, 0, variant=0),
            hard_negative_caption(s, "train", i, 0, variant=1),
        )
        for i, s in enumerate(scenes)
    ]
    both = [(a, b) for a, b in pairs if a is not None and b is not None]
    assert len(both) >= 15
    assert sum(a != b for a, b in both) >= len(both) // 2  # other swaps, not copies of variant 0
    with pytest.raises(ValueError, match="variant"):
        hard_negative_caption(scenes[0], "train", 0, 0, variant=MAX_NEGATIVE_VARIANTS)


def test_clip_loss_takes_several_negatives_per_image_as_extra_columns():
    torch.manual_seed(0)
    img, txt, neg = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 3, 8)
    scale = torch.tensor(2.0)
    flat = clip_loss(img, txt, scale, neg.reshape(12, 8))
    assert torch.allclose(clip_loss(img, txt, scale, neg), flat)
    mask = torch.ones(4, 3, dtype=torch.bool)
    mask[:, 1:] = False  # keep only the first negative of each image
    assert torch.allclose(clip_loss(img, txt, scale, neg, mask), clip_loss(img, txt, scale, neg[:, 0]))
