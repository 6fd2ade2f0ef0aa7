"""The scenes benchmark's data: scenes, renders, captions, styles and splits."""

from __future__ import annotations

import numpy as np
import pytest

from qshift.scenes.captions import STYLES
from qshift.scenes.dataset import load_scenes_dataset, scenes_split
from qshift.scenes.generator import generate_scenes
from qshift.scenes.render import RAW_SIZE, render_scene


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


def test_registry_and_old_import_paths_lead_into_the_package():
    import qshift.data.scenes as old_data
    import qshift.encoders.scenes as old_model
    from qshift import registry
    from qshift.scenes import dataset, model

    assert registry.load("dataset", "scenes") is dataset.load_spec
    assert registry.load("encoder", "scenes") is model.load_spec
    assert old_data.scenes_split is dataset.scenes_split and old_model.SceneEncoder is model.SceneEncoder
    for module in (old_data, old_model):
        assert all(hasattr(module, name) for name in module.__all__)
