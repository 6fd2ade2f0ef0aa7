"""scenes-cir: the triplet generator, its relevance, the dataset's query options and the shipped model."""

from __future__ import annotations

import collections
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import qshift
from qshift.bench.oracle import oracle
from qshift.bench.suites import suite
from qshift.data.queries import QueryBatches
from qshift.data.scenes import Background, Scene, SceneObject
from qshift.encoders.base import RetrievalModel, stats_file
from qshift.errors import ParameterError
from qshift.scenes_cir.dataset import FAMILY_SIZE, METRICS, build_families, scenes_cir_split
from qshift.scenes_cir.edits import EDIT_KINDS, Edit, apply_edits, describe, new_object
from qshift.scenes_cir.model import DEFAULT_CIR_WEIGHTS, load_scenes_cir_model, norm_layer_names
from qshift.scenes_cir.pretrain import CIRTrainConfig, pretrain_scenes_cir
from qshift.scenes_cir.texts import modification_text, reference_forms
from qshift.scenes_cir.triplets import build_family
from qshift.scenes_cir.words import ALL_STYLES
from qshift.shifts.spec import ShiftSpec
from qshift.stats import compute_source_stats
from qshift.tasks import ComposedQuery

BACKGROUND = Background("stripes", (120, 120, 120), (150, 150, 150), 0.1, 0.0, 0.0)


def thing(shape: str, colour: str, size: str, cell: int) -> SceneObject:
    row, col = divmod(cell, 3)
    return SceneObject(shape, colour, size, row, col, (col + 0.5) / 3, (row + 0.5) / 3, 0.1, 0.0, (200, 0, 0))


@pytest.fixture(scope="module")
def small() -> qshift.data.RetrievalDataset:
    return scenes_cir_split("test", 6)


def test_families_are_deterministic_and_splits_disjoint():
    first = build_families("val", 5, seed=0)
    again = build_families("val", 5, seed=0)
    assert [describe(f.reference) for f in first] == [describe(f.reference) for f in again]
    assert [q.texts for f in first for q in f.queries] == [q.texts for f in again for q in f.queries]
    keys = {
        split: {
            (describe(s), s.background) for f in build_families(split, 30) for s in (f.reference, *f.variants)
        }
        for split in ("train", "val", "test")
    }
    assert (
        not keys["train"] & keys["val"]
        and not keys["train"] & keys["test"]
        and not keys["val"] & keys["test"]
    )
    assert describe(build_family("test", 0, seed=1).reference) != describe(build_family("test", 0).reference)


def test_every_edit_kind_and_double_edits_occur():
    queries = [q for f in build_families("test", 60) for q in f.queries]
    kinds = collections.Counter(e.kind for q in queries for e in q.edits)
    assert set(kinds) == set(EDIT_KINDS)
    assert sum(len(q.edits) == 2 for q in queries) > 10
    assert all(len({e.kind for e in q.edits}) == len(q.edits) for q in queries)


def test_a_hand_checked_triplet_and_its_near_miss():
    reference = Scene((thing("circle", "red", "small", 0), thing("square", "blue", "large", 4)), BACKGROUND)
    rng = np.random.default_rng(0)
    target = apply_edits(reference, [Edit("colour", 0, "green")], rng)
    assert describe(target) == (("circle", "green", "small", 0, 0), ("square", "blue", "large", 1, 1))
    near = apply_edits(reference, [Edit("colour", 0, "yellow")], rng)
    assert describe(near) != describe(target)
    assert target.objects[1] == reference.objects[1] and target.background == reference.background
    moved = apply_edits(reference, [Edit("position", 1, 8), Edit("remove", 0)], rng)
    assert describe(moved) == (("square", "blue", "large", 2, 2),)
    added = apply_edits(reference, [Edit("add", None, new_object(rng, 2))], rng)
    assert len(added.objects) == 3 and describe(added)[:1] == describe(reference)[:1]
    with pytest.raises(ValueError, match="one grid cell"):
        apply_edits(reference, [Edit("position", 0, 4)], rng)
    text = modification_text(reference, [Edit("colour", 0, "green")], "base", np.random.default_rng(1))
    assert "green" in text


def test_a_generated_triplet_is_what_it_says():
    family = build_family("test", 0)
    assert describe(family.reference) == (
        ("cross", "black", "large", 0, 2),
        ("triangle", "blue", "small", 2, 0),
    )
    query = family.queries[0]
    assert query.edits == (Edit("remove", 0),)
    assert query.texts["base"] == "drop the black plus sign"
    assert describe(family.variants[query.target]) == (("triangle", "blue", "small", 2, 0),)


def test_referring_expressions_single_out_one_object():
    for family in build_families("val", 40):
        scene = family.reference
        for index in range(len(scene.objects)):
            assert reference_forms(scene, index), "every object can be named"
    scene = Scene((thing("circle", "red", "small", 0), thing("circle", "blue", "small", 1)), BACKGROUND)
    assert ("shape",) not in reference_forms(scene, 0) and ("colour", "shape") in reference_forms(scene, 0)


def test_relevance_by_description(small):
    families = build_families("test", 6)
    gallery = [s for f in families for s in (f.reference, *f.variants)]
    groups = small.groups["image+text"]
    q = 0
    for f, family in enumerate(families):
        for query in family.queries:
            wanted = describe(family.variants[query.target])
            relevant = set(groups[q].tolist())
            assert f * FAMILY_SIZE + 1 + query.target in relevant
            assert relevant == {i for i, s in enumerate(gallery) if describe(s) == wanted}
            assert f * FAMILY_SIZE not in relevant  # the reference is never a target
            q += 1
    assert q == small.count("image+text") == 12 and small.count("image") == 6 * FAMILY_SIZE


def test_reference_excluded_and_subsets_of_six(small):
    for q, (excluded, subset) in enumerate(zip(small.excluded["cir"], small.subsets["cir"], strict=True)):
        family = q // 2
        assert excluded.tolist() == [family * FAMILY_SIZE]
        assert len(subset) == 6 and set(subset.tolist()) == set(
            range(family * FAMILY_SIZE + 1, (family + 1) * FAMILY_SIZE)
        )
        assert set(small.groups["image+text"][q].tolist()) & set(subset.tolist())
        item = small.items["image+text"][q]
        assert isinstance(item, ComposedQuery)
        np.testing.assert_array_equal(item.image, small.images[int(excluded[0])])
    assert small.metrics == METRICS


def test_held_out_styles_are_native_text_shifts(small):
    class Dummy(RetrievalModel):
        modalities = ("image", "image+text")

        def prepare(self, modality, items):
            return items

    stream = QueryBatches(Dummy(), small, "cir")
    formal = stream.raw_item(3, ShiftSpec("formal", 5, part="text"))
    assert (
        formal.text
        == small.variants["image+text"]["text:formal"][3].text
        != small.items["image+text"][3].text
    )
    np.testing.assert_array_equal(formal.image, small.items["image+text"][3].image)
    typo = stream.raw_item(3, ShiftSpec("char_swap", 5, part="text"))
    assert typo.text != small.items["image+text"][3].text
    with pytest.raises(ValueError, match="image"):
        stream.check_shift(ShiftSpec("formal", 5, part="image"))
    assert set(small.variants["image+text"]) == {f"text:{s}" for s in ALL_STYLES if s != "base"}


class ReferenceCopier(RetrievalModel):
    """A composed query embedded as its reference image (it ignores the text): the reference wins."""

    name = "copier"
    modalities = ("image", "image+text")

    def __init__(self) -> None:
        super().__init__()
        self.dim = 48
        self.image = nn.Sequential(nn.Flatten(), nn.LayerNorm(self.dim))

    def tower(self, modality):
        return self.image

    def prepare(self, modality, items):
        images = [q.image if isinstance(q, ComposedQuery) else q for q in items]
        small = [img[::56, ::56].astype(np.float32) for img in images]  # 4x4x3
        return torch.tensor(np.stack(small))


def test_the_reference_never_ranks_in_its_own_list(small):
    kept = qshift.evaluate(ReferenceCopier(), small, direction="cir", method="source")
    open_data = scenes_cir_split("test", 6)
    open_data.excluded.clear()
    leaked = qshift.evaluate(ReferenceCopier(), open_data, direction="cir", method="source")
    assert leaked.metrics["r1"] == 0  # the reference itself ranks first when it is not excluded
    assert kept.metrics["r1"] > 0


def test_the_shipped_model_runs_composed_queries(small):
    model = qshift.encoders.load_encoder("scenes-cir")
    assert model.modalities == ("image", "text", "image+text")
    names = norm_layer_names(model)
    assert any(n.startswith("vision.") for n in names) and any(n.startswith("text.model.") for n in names)
    assert "combiner.norm" in names
    data = small.subset("image+text", range(8))
    result = qshift.evaluate(model, data, direction="cir", shift="text:formal@5", method="tcr", batch_size=4)
    assert result.queries == 8
    assert set(result.to_json()) >= {"r1", "r50", "rsub1", "rsub2", "rsub3", "map@10"}
    clean = qshift.evaluate(model, data, direction="cir", method="source", batch_size=8)
    assert clean.metrics["rsub3"] >= clean.metrics["rsub1"] and 0 <= clean.metrics["r1"] <= 100


def test_the_oracle_masks_each_references_and_scores_the_task_metrics(small):
    model = qshift.encoders.load_encoder("scenes-cir")
    data = small.subset("image+text", range(12))
    result = oracle(model, data, "cir", "none", mode="heldout", epochs=1, batch_size=6, workers=1)
    source = qshift.evaluate(model, data, direction="cir", method="source", batch_size=6)
    assert set(result.metrics) == set(source.metrics) >= {"rsub1", "map@10"}
    for key, value in source.metrics.items():  # the same masked ranking as evaluate's
        assert result.source_metrics[key] == pytest.approx(value, abs=1e-6), key


def test_clean_statistics_are_stored_beside_the_weights_and_found_there(small, tmp_path):
    for name in ("scenes_cir.safetensors", "scenes_cir.json"):
        shutil.copy(DEFAULT_CIR_WEIGHTS.with_name(name), tmp_path / name)
    weights = tmp_path / "scenes_cir.safetensors"
    model = qshift.encoders.load_encoder(f"scenes-cir:{weights}")
    assert model.source_stats_path("cir") is None
    stats = compute_source_stats(model, small.subset("image+text", range(8)), "cir", batch_size=4)
    written = stats.save(stats_file(model.stats_anchor, "cir"))
    assert written == tmp_path / "scenes_cir.stats-cir.safetensors"
    assert qshift.encoders.load_encoder(f"scenes-cir:{weights}").source_stats_path("cir") == written
    assert "combiner.norm" in stats.layers


@pytest.mark.slow
def test_a_tiny_pretraining_run_trains_and_loads_back(tmp_path):
    config = CIRTrainConfig(families=3, texts_per_query=1, epochs=2, batch_families=2, proj=16, hidden=32)
    weights = pretrain_scenes_cir(tmp_path, config, evaluate=False)
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["train"]["steps_run"] == 4 and meta["train"]["torch_threads"] >= 1
    model = load_scenes_cir_model(weights)
    trained = load_file(str(weights))
    for name, value in model.combiner.state_dict().items():
        torch.testing.assert_close(value, trained[f"combiner.{name}"].float())
    again = pretrain_scenes_cir(tmp_path / "again", config, evaluate=False)
    assert load_file(str(again)).keys() == trained.keys()
    for key, value in load_file(str(again)).items():
        torch.testing.assert_close(value, trained[key])  # deterministic from the seed


@pytest.mark.parametrize(("field", "value"), [("families", 0), ("epochs", 0), ("dropout", 1.0), ("lr", 0.0)])
def test_training_config_names_a_bad_parameter(field, value):
    with pytest.raises(ParameterError) as err:
        CIRTrainConfig(**{field: value})
    assert err.value.param == field


def test_the_suites_shift_one_part_of_the_composed_query():
    image, text = suite("scenes-cir-image"), suite("scenes-cir-text")
    assert (image.model, image.dataset) == (text.model, text.dataset) == ("scenes-cir", "scenes-cir")
    assert len(image.cells) == 16
    assert {(t, s.part, s.severity) for t, s in image.cells} == {("cir", "image", 5)}
    assert len(text.cells) == 15 and {(t, s.part, s.severity) for t, s in text.cells} == {("cir", "text", 5)}
    assert {s.name for _, s in text.cells} >= {"formal", "casual", "passive", "active", "back_translation"}
