"""Real composed image retrieval: FashionIQ, CIRR and CIRCO loaders, protocols, runs.

Fixtures in each public format are written by the tests (:mod:`cir_fixtures`); the model is
the tiny random CLIP of conftest. The protocols' numbers are checked against a brute-force
computation on random embeddings, written the way the public evaluation code ranks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from cir_fixtures import write_circo, write_cirr, write_fashioniq, write_json
from torch import nn

import qshift
from qshift.api import embed_gallery
from qshift.cli import main
from qshift.data.queries import QueryBatches
from qshift.encoders.base import RetrievalModel
from qshift.gallery import EXCLUDED_SCORE
from qshift.methods import build
from qshift.metrics import RetrievalMetrics
from qshift.shifts.spec import parse_shift
from qshift.shifts.streams import single

#: tiny models run fastest on one thread, the more so on a loaded machine
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fiq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fashioniq(tmp_path_factory.mktemp("fiq"))


@pytest.fixture(scope="module")
def cirr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cirr(tmp_path_factory.mktemp("cirr"))


@pytest.fixture(scope="module")
def circo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_circo(tmp_path_factory.mktemp("circo"))


@pytest.fixture(scope="module")
def clip(tiny_clip_dir: Path) -> RetrievalModel:
    return qshift.load_encoder(f"hf:{tiny_clip_dir}", device="cpu")


# -- loaders --------------------------------------------------------------------------------------
def test_fashioniq_reads_three_categories_into_one_protocol(fiq):
    data = qshift.load_dataset(f"fashioniq:{fiq}")
    assert data.count("image+text") == data.count("image") == 15
    query = data.items["image+text"][0]
    assert query.text == "is more dress like 0 and has a pattern 0"  # "c1 and c2", ".?, " stripped
    assert query.image.ndim == 3 and query.image.dtype == np.uint8
    assert data.items["image"].paths[0] == "images/val-dress0.jpg"  # .jpg where no .png exists
    assert data.groups["image+text"].tolist()[:5] == [1, 2, 3, 4, 0]
    assert data.groups["image+text"][5] == 5 + 1  # shirt targets are offset by the dress gallery
    # a shirt query never ranks a dress or toptee item: its own category's gallery only
    assert sorted(data.excluded["cir"][5].tolist()) == [*range(5), *range(11, 15)]
    assert "r10_shirt=r10[5:11]" in data.metrics and data.metrics[-1] == "average=mean(r10_mean,r50_mean)"
    one = qshift.load_dataset(f"fashioniq:{fiq}:toptee")
    assert one.count("image") == 4 and "cir" not in one.excluded
    assert one.metrics[1:3] == ("r10_toptee=r10[0:4]", "r50_toptee=r50[0:4]")


def test_cirr_removes_the_reference_and_keeps_the_other_members_as_subset(tmp_path):
    for nested, img_raw in ((False, False), (True, True)):
        root = write_cirr(tmp_path / f"c{nested}", nested=nested, img_raw=img_raw)
        data = qshift.load_dataset(f"cirr:{root}")
        entries = json.loads(next(root.rglob("cap.rc2.val.json")).read_text())
        names = list(json.loads(next(root.rglob("split.rc2.val.json")).read_text()))
        assert data.items["image"].paths[0] == ("img_raw/" if img_raw else "") + "dev/" + names[0] + ".png"
        for i, entry in enumerate(entries):
            reference = names.index(entry["reference"])
            assert data.excluded["cir"][i].tolist() == [reference]
            assert data.groups["image+text"][i] == names.index(entry["target_hard"])
            members = {names.index(m) for m in entry["img_set"]["members"]} - {reference}
            assert set(data.subsets["cir"][i].tolist()) == members and len(members) == 5
        assert data.items["image+text"][0].image.shape[2] == 3
    with pytest.raises(ValueError, match="names split 'val' but split='train'"):
        qshift.load_dataset(f"cirr:{root}:val", split="train")


def test_circo_queries_carry_every_ground_truth(circo):
    data = qshift.load_dataset(f"circo:{circo}")
    entries = json.loads((circo / "annotations" / "val.json").read_text())
    info = json.loads((circo / "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json").read_text())
    ids = [image["id"] for image in info["images"]]
    for i, entry in enumerate(entries):
        assert sorted(data.groups["image+text"][i].tolist()) == sorted(
            ids.index(g) for g in entry["gt_img_ids"]
        )
        assert data.excluded["cir"][i].tolist() == [ids.index(entry["reference_img_id"])]
    assert data.items["image"].paths[0] == f"COCO2017_unlabeled/unlabeled2017/{ids[0]:012d}.jpg"
    assert data.metrics == ("map@5", "map@10", "map@25", "map@50")


# -- protocols against brute force ----------------------------------------------------------------
class LookupModel(RetrievalModel):
    """Items are integer ids; each modality's tower looks its embedding up."""

    name = "lookup"
    modalities = ("image+text", "image")

    def __init__(self, queries: torch.Tensor, gallery: torch.Tensor):
        super().__init__()
        self.dim = queries.shape[1]
        self.towers = nn.ModuleDict(
            {
                "image+text": nn.Embedding.from_pretrained(queries),
                "image": nn.Embedding.from_pretrained(gallery),
            }
        )

    def tower(self, modality: str) -> nn.Module:
        return self.towers[modality]

    def prepare(self, modality: str, items: Sequence[int]) -> torch.Tensor:
        return torch.tensor(list(items))


def lookup_run(data, seed: int = 0):
    """Source metrics of ``data`` with random embeddings; a query sits next to its reference."""
    rng = np.random.default_rng(seed)
    n, q = data.count("image"), data.count("image+text")
    gallery = torch.from_numpy(rng.normal(size=(n, 8))).float()
    queries = torch.from_numpy(rng.normal(size=(q, 8))).float()
    excluded = data.excluded.get("cir")
    if excluded is not None and all(len(e) == 1 for e in excluded):  # the reference would win its own query
        queries = 3 * gallery[[int(e[0]) for e in excluded]] + queries
    data.items = {"image+text": list(range(q)), "image": list(range(n))}
    model = LookupModel(queries, gallery)
    result = qshift.evaluate(model, data, direction="cir", method="source", batch_size=7)
    with torch.no_grad():
        z = nn.functional.normalize(model.towers["image+text"](torch.arange(q)), dim=-1).numpy()
        g = nn.functional.normalize(model.towers["image"](torch.arange(n)), dim=-1).numpy()
    return result.metrics, z @ g.T


def test_fashioniq_metrics_equal_each_category_ranked_on_its_own_gallery(tmp_path):
    sizes = {"dress": 40, "shirt": 70, "toptee": 55}
    data = qshift.load_dataset(f"fashioniq:{write_fashioniq(tmp_path, sizes, images=False)}")
    targets = data.groups["image+text"].copy()
    metrics, scores = lookup_run(data)
    expected: dict[str, float] = {}
    start = 0
    for category, count in sizes.items():
        rows = range(start, start + count)
        block = scores[np.ix_(list(rows), list(rows))]  # the category's queries against its own gallery
        order = np.argsort(-block, axis=1)
        position = [int(np.flatnonzero(order[r] == targets[q] - start)[0]) for r, q in enumerate(rows)]
        for k in (10, 50):
            expected[f"r{k}_{category}"] = 100 * float(np.mean(np.asarray(position) < k))
        start += count
    for k in (10, 50):
        expected[f"r{k}_mean"] = float(np.mean([expected[f"r{k}_{c}"] for c in sizes]))
    expected["average"] = (expected["r10_mean"] + expected["r50_mean"]) / 2
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-5), key
    assert 0 < metrics["r10_mean"] < 100


def test_cirr_metrics_equal_the_public_evaluation(tmp_path):
    root = write_cirr(tmp_path, images=80, queries=60, write_images=False)
    data = qshift.load_dataset(f"cirr:{root}")
    entries = json.loads((root / "captions/cap.rc2.val.json").read_text())
    names = list(json.loads((root / "image_splits/split.rc2.val.json").read_text()))
    metrics, scores = lookup_run(data)
    recall, subset = {k: [] for k in (1, 5, 10, 50)}, {k: [] for k in (1, 2, 3)}
    for q, entry in enumerate(entries):
        ranked = [
            names[j] for j in np.argsort(-scores[q]) if names[j] != entry["reference"]
        ]  # reference removed
        for k in recall:
            recall[k].append(entry["target_hard"] in ranked[:k])
        in_set = [n for n in ranked if n in entry["img_set"]["members"]]
        for k in subset:
            subset[k].append(entry["target_hard"] in in_set[:k])
    for k, hits in recall.items():
        assert metrics[f"r{k}"] == pytest.approx(100 * np.mean(hits), abs=1e-5)
    for k, hits in subset.items():
        assert metrics[f"rsub{k}"] == pytest.approx(100 * np.mean(hits), abs=1e-5)
    assert metrics["average"] == pytest.approx((metrics["r5"] + metrics["rsub1"]) / 2)
    assert 0 < metrics["r5"] < 100 and 0 < metrics["rsub1"] < 100


def test_circo_map_equals_the_public_evaluation(tmp_path):
    root = write_circo(tmp_path, images=90, queries=40, write_images=False)
    data = qshift.load_dataset(f"circo:{root}")
    entries = json.loads((root / "annotations/val.json").read_text())
    info = json.loads((root / "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json").read_text())
    ids = np.asarray([image["id"] for image in info["images"]])
    metrics, scores = lookup_run(data)
    aps: dict[int, list[float]] = {k: [] for k in (5, 10, 25, 50)}
    for q, entry in enumerate(entries):
        predictions = [i for i in ids[np.argsort(-scores[q])] if i != entry["reference_img_id"]][:50]
        labels = np.isin(predictions, entry["gt_img_ids"])
        precisions = np.cumsum(labels) * labels / np.arange(1, len(labels) + 1)
        for k in aps:
            aps[k].append(np.sum(precisions[:k]) / min(len(entry["gt_img_ids"]), k))
    for k, values in aps.items():
        assert metrics[f"map@{k}"] == pytest.approx(100 * np.mean(values), abs=1e-5)
    assert 0 < metrics["map@10"] < 100


def test_the_reference_never_ranks_in_its_own_list(clip, cirr):
    data = qshift.load_dataset(f"cirr:{cirr}")
    queries = QueryBatches(clip, data, "cir")
    adapter = build("tent", clip.query_tower("cir"), embed_gallery(clip, data, "cir"), params="norm")
    plan = single(queries.num_queries, parse_shift("image:fog@5"), 4, seed=0)
    try:
        for planned, prepared, _ in queries.iterate(plan):
            references = [data.excluded["cir"][i] for i in planned.indices]
            with adapter.excluding(references):
                scores = adapter(prepared)
            for row, reference in enumerate(references):
                assert scores[row, reference].item() == EXCLUDED_SCORE
                assert int(scores[row].argmax()) != int(reference[0])
    finally:
        adapter.reset()


# -- runs ----------------------------------------------------------------------------------------
PROTOCOL_KEYS = {
    "fashioniq": {"r50", "r10_dress", "r50_toptee", "r10_mean", "r50_mean", "average"},
    "cirr": {"r50", "rsub1", "rsub2", "rsub3", "average"},
    "circo": {"map@5", "map@10", "map@25", "map@50"},
}


@pytest.mark.parametrize("kind", sorted(PROTOCOL_KEYS))
def test_qshift_run_prints_each_protocols_metrics(kind, tiny_clip_dir, fiq, cirr, circo, capsys):
    root = {"fashioniq": fiq, "cirr": cirr, "circo": circo}[kind]
    argv = ["run", "--model", f"hf:{tiny_clip_dir}", "--dataset", f"{kind}:{root}", "--direction", "cir"]
    argv += [
        "--shift",
        "image:gaussian_noise@5",
        "--method",
        "tcr",
        "--json",
        "--device",
        "cpu",
        "--batch-size",
        "4",
    ]
    assert main(argv) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["direction"] == "cir" and line["shift"] == "image:gaussian_noise@5"
    assert PROTOCOL_KEYS[kind] <= set(line) and {"r1", "r5", "r10", "map", "gap_after"} <= set(line)
    assert all(0 <= line[key] <= 100 for key in PROTOCOL_KEYS[kind])


@pytest.mark.parametrize("method", qshift.methods.names())
def test_every_method_runs_on_composed_queries(method, clip, cirr):
    data = qshift.load_dataset(f"cirr:{cirr}")
    before = {k: v.clone() for k, v in clip.state_dict().items()}
    result = qshift.evaluate(clip, data, direction="cir", shift="text:ocr@5", method=method, batch_size=4)
    assert result.queries == 8 and {"rsub1", "average"} <= set(result.metrics)
    for key, value in clip.state_dict().items():
        torch.testing.assert_close(value, before[key])  # back at the source weights


def test_the_composed_tower_sums_both_towers_and_adapts_their_layernorms(clip):
    tower = clip.query_tower("cir")
    assert tower.image is clip.tower("image") and tower.text is clip.tower("text")
    rng = np.random.default_rng(0)
    items = [qshift.tasks.ComposedQuery(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8), "a red dress")]
    with torch.no_grad():
        composed = tower(clip.prepare("image+text", items))
        image = clip.tower("image")(clip.prepare("image", [items[0].image]))
        text = clip.tower("text")(clip.prepare("text", [items[0].text]))
    expected = nn.functional.normalize(image, dim=-1) + nn.functional.normalize(text, dim=-1)
    torch.testing.assert_close(composed, expected)
    chosen = {id(p) for p in clip.adapt_params("cir")(tower)}
    names = {n for n, p in tower.named_parameters() if id(p) in chosen}
    assert any(n.startswith("image.vision_model") for n in names)
    assert any(n.startswith("text.text_model.encoder") for n in names)
    assert not any("final_layer_norm" in n for n in names)  # CLIP's text preset, as for t2i
    assert all("layer_norm" in n or "layrnorm" in n or "layernorm" in n for n in names)


# -- malformed annotations -------------------------------------------------------------------------
def _broken(root: Path, kind: str) -> tuple[str, str, str]:
    """(spec, file name, field) of a fixture with one bad field."""
    if kind == "fiq-target":
        write_fashioniq(root, {"dress": 3})
        entries = json.loads((root / "captions/cap.dress.val.json").read_text())
        del entries[1]["target"]
        write_json(root / "captions/cap.dress.val.json", entries)
        return f"fashioniq:{root}:dress", "cap.dress.val.json", "'target'"
    if kind == "fiq-gallery":
        write_fashioniq(root, {"shirt": 3})
        entries = json.loads((root / "captions/cap.shirt.val.json").read_text())
        entries[2]["target"] = "nowhere"
        write_json(root / "captions/cap.shirt.val.json", entries)
        return f"fashioniq:{root}:shirt", "cap.shirt.val.json", "'target'"
    if kind == "cirr-members":
        write_cirr(root, write_images=False)
        entries = json.loads((root / "captions/cap.rc2.val.json").read_text())
        entries[3]["img_set"]["members"][0] = "dev-missing"
        write_json(root / "captions/cap.rc2.val.json", entries)
        return f"cirr:{root}", "cap.rc2.val.json", "'img_set.members'"
    if kind == "cirr-split":
        write_cirr(root, write_images=False)
        write_json(root / "image_splits/split.rc2.val.json", {"dev-0-0-img0": 3})
        return f"cirr:{root}", "split.rc2.val.json", "path string"
    if kind == "circo-gt":
        write_circo(root, write_images=False)
        entries = json.loads((root / "annotations/val.json").read_text())
        entries[0]["gt_img_ids"] = []
        write_json(root / "annotations/val.json", entries)
        return f"circo:{root}", "val.json", "'gt_img_ids'"
    write_circo(root, write_images=False)
    (root / "annotations/val.json").write_text("[{")
    return f"circo:{root}", "val.json", "not a valid JSON"


@pytest.mark.parametrize(
    "kind", ["fiq-target", "fiq-gallery", "cirr-members", "cirr-split", "circo-gt", "circo-json"]
)
def test_malformed_annotations_give_one_line_naming_file_and_field(kind, tmp_path, capsys, tiny_clip_dir):
    spec, file, field = _broken(tmp_path, kind)
    argv = ["run", "--model", f"hf:{tiny_clip_dir}", "--dataset", spec, "--direction", "cir", "--json"]
    assert main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and file in message and field in message, message


def test_bad_specs_and_categories_are_named(fiq):
    with pytest.raises(ValueError, match="unknown FashionIQ category 'skirt'"):
        qshift.load_dataset(f"fashioniq:{fiq}:skirt")
    with pytest.raises(FileNotFoundError, match="dataset root directory not found"):
        qshift.load_dataset("cirr:/nowhere/at/all")
    with pytest.raises(FileNotFoundError, match="split.dress.train.json"):
        qshift.load_dataset(f"fashioniq:{fiq}", split="train")


# -- defined metrics -----------------------------------------------------------------------------
def test_defined_metrics_are_strata_and_means_in_order():
    metrics = RetrievalMetrics(
        np.arange(4), extra=("r2", "a=r1[0:2]", "b=r1[2:4]", "m=mean(a,b)", "e=r1[9:10]")
    )
    scores = torch.tensor([[0.9, 0.1, 0.2, 0.3], [0.1, 0.2, 0.9, 0.3], [0.1, 0.2, 0.9, 0.3]])
    metrics.update(scores, np.array([0, 1, 2]))  # hit, miss (stratum a), hit (stratum b)
    out = metrics.compute()
    assert out["a"] == 50 and out["b"] == 100 and out["m"] == 75 and np.isnan(out["e"])
    for bad, match in (
        ("x=mean(nope)", "not computed before"),
        ("r5=mean(r1)", "redefines"),
        ("x=r1[3:3]", "empty"),
        ("x=foo[0:2]", "unknown metric"),
        ("x==", "bad metric definition"),
    ):
        with pytest.raises(ValueError, match=match):
            RetrievalMetrics(np.arange(4), extra=(bad,))


@pytest.mark.parametrize("family", ["siglip", "blip"])
def test_siglip_and_blip_compose_and_adapt_too(family, request, cirr):
    model = qshift.load_encoder(f"hf:{request.getfixturevalue(f'tiny_{family}_dir')}", device="cpu")
    data = qshift.load_dataset(f"cirr:{cirr}")
    result = qshift.evaluate(model, data, direction="cir", shift="image:fog@2", method="tcr", batch_size=4)
    assert result.queries == 8 and "rsub3" in result.metrics
    tower = model.query_tower("cir")
    assert model.adapt_params("cir")(tower)
