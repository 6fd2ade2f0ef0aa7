"""Dataset loaders: Karpathy/COCO/Flickr, NoCaps, Fashion-Gen, PEDES, caption normalisation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qshift.data import DATASETS, load_dataset, normalize_caption, resolve_karpathy_spec
from qshift.data.qgs import FASHIONGEN_TEMPERATURE, PEDES_TEMPERATURE


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


# -- caption normalisation ----------------------------------------------------------------------
def test_normalize_caption_follows_blip():
    assert normalize_caption('A "Red" (big) circle. On the LEFT!') == "a red big circle on the left"
    assert normalize_caption("one*two#three:four;five~six") == "one two three four five six"
    assert normalize_caption("  tabs\tand\nnew   lines ") == "tabs and new lines"
    assert normalize_caption("keep, commas and apostrophe's?") == "keep, commas and apostrophe's?"


def test_normalize_caption_word_limit():
    text = " ".join(f"w{i}" for i in range(40))
    assert normalize_caption(text).split() == [f"w{i}" for i in range(30)]
    assert normalize_caption(text, max_words=3) == "w0 w1 w2"
    assert len(normalize_caption(text, max_words=None).split()) == 40
    with pytest.raises(ValueError, match="max_words"):
        normalize_caption(text, max_words=0)


# -- Karpathy -----------------------------------------------------------------------------------
def test_karpathy_loads_first_five_normalised_captions(tiny_karpathy):
    ds = load_dataset(tiny_karpathy.spec)
    assert ds.name == tiny_karpathy.spec
    assert ds.num_images == 6
    expected = [normalize_caption(c) for caps in tiny_karpathy.captions for c in caps[:5]]
    assert ds.texts == expected
    assert ds.num_texts == 5 * 5 + 1  # image 2 has six captions (five kept), image 4 a single string
    assert "number 5" not in " ".join(ds.texts)
    np.testing.assert_array_equal(ds.image_groups, np.arange(6))
    np.testing.assert_array_equal(ds.text_groups, np.repeat(np.arange(6), [5, 5, 5, 5, 1, 5]))
    assert ds.temperature == 0.01


def test_karpathy_images_load_lazily_from_relative_paths(tiny_karpathy):
    ds = load_dataset(tiny_karpathy.spec)
    assert ds.images.paths == tiny_karpathy.images
    png = ds.images[1]
    from PIL import Image

    with Image.open(tiny_karpathy.image_root / tiny_karpathy.images[1]) as img:
        np.testing.assert_array_equal(png, np.asarray(img.convert("RGB")))
    jpg = ds.images[0]
    assert jpg.dtype == np.uint8 and jpg.ndim == 3 and jpg.shape[2] == 3


def test_karpathy_max_captions_option(tiny_karpathy):
    ds = load_dataset(tiny_karpathy.spec, max_captions=None, name="all")
    assert ds.name == "all"
    assert ds.num_texts == 5 * 4 + 6 + 1
    with pytest.raises(ValueError, match="max_captions"):
        load_dataset(tiny_karpathy.spec, max_captions=0)


def test_karpathy_merges_entries_of_the_same_image(tmp_path, image_writer):
    image_writer(tmp_path / "a.png", 0)
    image_writer(tmp_path / "b.png", 1)
    entries = [{"image": "a.png", "caption": "one"}, {"image": "b.png", "caption": "two"}]
    entries.append({"image": "a.png", "caption": ["three"]})
    annotation = write_json(tmp_path / "ann.json", entries)
    ds = load_dataset(f"karpathy:{annotation}:{tmp_path}")
    assert ds.texts == ["one", "three", "two"]
    np.testing.assert_array_equal(ds.text_groups, [0, 0, 1])


def test_coco_shorthand_with_annotation_and_images_folders(tiny_karpathy):
    root = tiny_karpathy.annotation.parent.parent
    assert resolve_karpathy_spec(f"coco:{root}") == (tiny_karpathy.annotation, root / "images")
    ds = load_dataset(f"coco:{root}")
    assert ds.name == f"coco:{root}" and ds.num_images == 6
    np.testing.assert_array_equal(ds.images[3], load_dataset(tiny_karpathy.spec).images[3])


def test_flickr_shorthand_with_flat_layout(tmp_path, image_writer):
    image_writer(tmp_path / "1000.jpg", 0)
    write_json(tmp_path / "flickr30k_test.json", [{"image": "1000.jpg", "caption": ["A dog."]}])
    assert resolve_karpathy_spec(f"flickr:{tmp_path}") == (tmp_path / "flickr30k_test.json", tmp_path)
    ds = load_dataset(f"flickr:{tmp_path}")
    assert ds.texts == ["a dog"] and ds.images[0].shape[2] == 3


def test_shorthand_prefers_root_annotation_over_annotation_folder(tmp_path, image_writer):
    image_writer(tmp_path / "x.png", 0)
    write_json(tmp_path / "coco_karpathy_test.json", [{"image": "x.png", "caption": ["root"]}])
    write_json(tmp_path / "annotation" / "coco_karpathy_test.json", [{"image": "x.png", "caption": ["sub"]}])
    assert load_dataset(f"coco:{tmp_path}").texts == ["root"]


def test_shorthand_missing_annotation_names_both_candidates(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset(f"coco:{tmp_path}")
    assert str(tmp_path / "coco_karpathy_test.json") in str(err.value)
    assert str(tmp_path / "annotation" / "coco_karpathy_test.json") in str(err.value)


def test_corrupted_image_copy_reads_with_plain_karpathy_spec(tiny_karpathy, tmp_path):
    corrupted = tmp_path / "COCO_IP_gaussian_noise_5"
    shutil.copytree(tiny_karpathy.image_root, corrupted)
    annotation, image_root = resolve_karpathy_spec(f"karpathy:{tiny_karpathy.annotation}:{corrupted}")
    assert (annotation, image_root) == (tiny_karpathy.annotation, corrupted)
    ds = load_dataset(f"karpathy:{tiny_karpathy.annotation}:{corrupted}")
    assert ds.images.path(0) == corrupted / tiny_karpathy.images[0]


# -- errors -------------------------------------------------------------------------------------
def test_missing_annotation_is_named(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_dataset(f"karpathy:{missing}:{tmp_path}")


def test_missing_image_root_is_named(tiny_karpathy, tmp_path):
    with pytest.raises(FileNotFoundError, match="no-images"):
        load_dataset(f"karpathy:{tiny_karpathy.annotation}:{tmp_path / 'no-images'}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a valid JSON"),
        (json.dumps({"image": "a.png"}), "expected a JSON list"),
        (json.dumps([]), "empty"),
        (
            json.dumps([{"image": "a.png", "caption": ["x"]}, {"image": "b.png"}]),
            "entry 1 has no field 'caption'",
        ),
        (json.dumps([{"caption": ["x"]}]), "entry 0 has no field 'image'"),
        (json.dumps([{"image": "a.png", "caption": []}]), "entry 0 field 'caption' has no captions"),
        (json.dumps([{"image": "a.png", "caption": [3]}]), "entry 0 field 'caption' must be"),
        (json.dumps(["a.png"]), "entry 0 is not a JSON object"),
    ],
)
def test_bad_annotations_name_file_entry_and_field(tmp_path, content, message):
    annotation = tmp_path / "ann.json"
    annotation.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        load_dataset(f"karpathy:{annotation}:{tmp_path}")
    assert str(annotation) in str(err.value)


def test_missing_image_is_reported_by_path_on_access(tmp_path, image_writer):
    image_writer(tmp_path / "present.png", 0)
    entries = [{"image": "present.png", "caption": "a"}, {"image": "sub/absent.png", "caption": "b"}]
    ds = load_dataset(f"karpathy:{write_json(tmp_path / 'ann.json', entries)}:{tmp_path}")
    assert ds.images[0].shape[2] == 3
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "sub" / "absent.png")):
        ds.images[1]


def test_unreadable_image_is_reported_by_path(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not an image")
    ds = load_dataset(
        f"karpathy:{write_json(tmp_path / 'a.json', [{'image': 'broken.png', 'caption': 'x'}])}:{tmp_path}"
    )
    with pytest.raises(ValueError, match="broken.png"):
        ds.images[0]


@pytest.mark.parametrize(
    "spec",
    ["imagenet:/x", "karpathy:only-one-part", "coco:", "nocaps:a:b:c:d", "fashiongen:a", "cuhk-pedes:a"],
)
def test_bad_specs_raise_value_error(spec):
    with pytest.raises(ValueError, match="spec"):
        load_dataset(spec)


def test_dataset_list_has_one_line_per_family():
    kinds = {spec.split(":")[0].split("[")[0] for spec in DATASETS}
    assert kinds == {
        "scenes",
        "scenes-cir",
        "scenes-av",
        "coco",
        "flickr",
        "karpathy",
        "nocaps",
        "fashiongen",
        "cuhk-pedes",
        "icfg-pedes",
        "audiocaps",
        "clotho",
        "msrvtt",
        "avcsv",
        "fashioniq",
        "cirr",
        "circo",
    }


def test_scenes_spec_is_dispatched_with_its_split(monkeypatch):
    import qshift.scenes.dataset as scenes

    calls = []
    monkeypatch.setattr(scenes, "load_scenes_dataset", lambda **kwargs: calls.append(kwargs) or "dataset")
    assert load_dataset("scenes") == "dataset"
    assert load_dataset("scenes:val", seed=3) == "dataset"
    assert calls == [{}, {"split": "val", "seed": 3}]


# -- NoCaps -------------------------------------------------------------------------------------
@pytest.fixture
def nocaps(tmp_path, image_writer) -> tuple[Path, Path]:
    domains = ["in-domain", "near-domain", "out-domain", "near-domain"]
    entries = []
    for i, domain in enumerate(domains):
        image_writer(tmp_path / "val" / f"{i}.jpg", i)
        entries.append(
            {"image": f"val/{i}.jpg", "caption": [f"Caption {j} of {i}." for j in range(6)], "domain": domain}
        )
    return write_json(tmp_path / "nocaps_val.json", entries), tmp_path


def test_nocaps_entire_keeps_every_caption(nocaps):
    annotation, root = nocaps
    ds = load_dataset(f"nocaps:{annotation}:{root}")
    assert ds.num_images == 4 and ds.num_texts == 24
    assert ds.texts[0] == "caption 0 of 0"
    np.testing.assert_array_equal(ds.text_groups, np.repeat(np.arange(4), 6))
    assert ds.temperature == 0.01
    assert load_dataset(f"nocaps:{annotation}:{root}:entire").num_images == 4


def test_nocaps_domain_filter(nocaps):
    annotation, root = nocaps
    near = load_dataset(f"nocaps:{annotation}:{root}:near")
    assert near.images.paths == ["val/1.jpg", "val/3.jpg"]
    assert near.texts[6] == "caption 0 of 3"
    np.testing.assert_array_equal(near.image_groups, [0, 1])
    np.testing.assert_array_equal(near.text_groups, np.repeat([0, 1], 6))
    assert load_dataset(f"nocaps:{annotation}:{root}:out").images.paths == ["val/2.jpg"]
    assert load_dataset(f"nocaps:{annotation}:{root}:in", max_captions=5).num_texts == 5


def test_nocaps_errors(nocaps, tmp_path):
    annotation, root = nocaps
    with pytest.raises(ValueError, match="domain"):
        load_dataset(f"nocaps:{annotation}:{root}:far")
    bad = write_json(tmp_path / "bad.json", [{"image": "val/0.jpg", "caption": ["x"], "domain": "space"}])
    with pytest.raises(ValueError, match="entry 0 field 'domain'"):
        load_dataset(f"nocaps:{bad}:{root}")
    only_in = write_json(
        tmp_path / "in.json", [{"image": "val/0.jpg", "caption": ["x"], "domain": "in-domain"}]
    )
    with pytest.raises(ValueError, match="no entries of domain 'out-domain'"):
        load_dataset(f"nocaps:{only_in}:{root}:out")


# -- Fashion-Gen --------------------------------------------------------------------------------
def test_fashiongen_groups_images_and_captions_by_product(tmp_path, image_writer):
    names = ["100_1.png", "100_2.png", "200_1.png", "300_1.jpg", "100_3.png"]
    for i, name in enumerate(names):
        image_writer(tmp_path / "imgs" / name, i)
    entries = [
        {"img_name": "100_1.png", "caption": "Black Wool Coat."},
        {"img_name": "100_2.png", "caption": "Black Wool Coat."},
        {"image": "200_1.png", "captions": ["Red sneakers", "Low-top"]},
        {"img_name": "300_1.jpg", "caption": "Silver ring"},
        {"img_name": "100_3.png", "caption": "Black Wool Coat."},
        {"img_name": "100_1.png", "caption": "Second description"},
    ]
    annotation = write_json(tmp_path / "fashiongen.json", entries)
    ds = load_dataset(f"fashiongen:{annotation}:{tmp_path / 'imgs'}")
    assert ds.images.paths == names
    np.testing.assert_array_equal(ds.image_groups, [0, 0, 1, 2, 0])
    assert ds.texts[0] == "black wool coat" and ds.texts[2:4] == ["red sneakers", "low-top"]
    np.testing.assert_array_equal(ds.text_groups, [0, 0, 1, 1, 2, 0, 0])
    assert ds.temperature == FASHIONGEN_TEMPERATURE == 0.001


def test_fashiongen_missing_caption_field_names_index(tmp_path):
    annotation = write_json(
        tmp_path / "f.json", [{"img_name": "1_1.png", "caption": "x"}, {"img_name": "2_1.png"}]
    )
    with pytest.raises(ValueError, match="entry 1 has no field 'caption' or 'captions'"):
        load_dataset(f"fashiongen:{annotation}:{tmp_path}")


# -- PEDES --------------------------------------------------------------------------------------
@pytest.fixture
def pedes(tmp_path, image_writer) -> tuple[Path, Path]:
    rows = [("train", 1, "CUHK01/a.png"), ("test", 7, "CUHK03/b.png"), ("test", 9, "test/c.jpg")]
    rows += [("val", 7, "CUHK03/v.png"), ("test", 7, "CUHK03/d.png")]
    entries = []
    for i, (split, pid, path) in enumerate(rows):
        image_writer(tmp_path / path, i)
        captions = [f"The Man {i} wears a RED shirt.", f"caption {i}b"]
        entries.append(
            {"split": split, "id": pid, "file_path": path, "captions": captions, "processed_tokens": []}
        )
    return write_json(tmp_path / "reid_raw.json", entries), tmp_path


@pytest.mark.parametrize("kind", ["cuhk-pedes", "icfg-pedes"])
def test_pedes_test_split_and_person_relevance(pedes, kind):
    annotation, root = pedes
    ds = load_dataset(f"{kind}:{annotation}:{root}")
    assert ds.images.paths == ["CUHK03/b.png", "test/c.jpg", "CUHK03/d.png"]
    np.testing.assert_array_equal(ds.image_groups, [0, 1, 0])
    np.testing.assert_array_equal(ds.text_groups, [0, 0, 1, 1, 0, 0])
    assert ds.texts[0] == "The Man 1 wears a RED shirt."
    assert ds.temperature == PEDES_TEMPERATURE == 1e-4
    assert ds.images[2].shape[2] == 3


def test_pedes_without_test_entries(tmp_path):
    annotation = write_json(
        tmp_path / "p.json", [{"split": "train", "id": 1, "file_path": "a.png", "captions": ["x"]}]
    )
    with pytest.raises(ValueError, match="no entries with split 'test'"):
        load_dataset(f"cuhk-pedes:{annotation}:{tmp_path}")


def test_pedes_bad_id_names_entry(tmp_path):
    entry = {"split": "test", "id": [1], "file_path": "a.png", "captions": ["x"]}
    annotation = write_json(tmp_path / "p.json", [entry])
    with pytest.raises(ValueError, match="entry 0 field 'id'"):
        load_dataset(f"icfg-pedes:{annotation}:{tmp_path}")
