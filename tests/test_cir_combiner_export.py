"""The trained combiner (train, save, load back, adapt) and FIQ-C / CIRR-C style shifted copies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cir_fixtures import write_circo, write_cirr, write_fashioniq, write_json

import qshift
from qshift.cli import main
from qshift.data.cir import composed_layout
from qshift.data.queries import QueryBatches
from qshift.encoders.combiner_train import CombinerTraining, fit_combiner, train_combiner
from qshift.encoders.composed import Combiner, load_combiner
from qshift.methods.params import select_parameters
from qshift.shifts.export import build_cir
from qshift.shifts.spec import parse_shift
from qshift.utils.seeds import item_seed

#: tiny models run fastest on one thread, the more so on a loaded machine
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fiq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fiq")
    write_fashioniq(root, split="train", seed=1)
    return write_fashioniq(root)


# -- the combiner ---------------------------------------------------------------------------------
def test_the_combiner_gates_between_text_and_image_features():
    torch.manual_seed(0)
    combiner = Combiner(6, projection_dim=5, hidden_dim=7).eval()
    image, text = torch.randn(3, 6), torch.randn(3, 6)
    with torch.no_grad():
        combiner.output.weight.zero_()
        combiner.output.bias.zero_()
        combiner.gate[3].bias.fill_(50.0)  # gate ~1: the normalised text feature
        torch.testing.assert_close(combiner(image, text), torch.nn.functional.normalize(text, dim=-1))
        combiner.gate[3].bias.fill_(-50.0)  # gate ~0: the normalised image feature
        torch.testing.assert_close(combiner(image, 5 * text), torch.nn.functional.normalize(image, dim=-1))
    assert combiner.config() == {"dim": 6, "projection_dim": 5, "hidden_dim": 7, "dropout": 0.5}
    assert Combiner(8).config()["projection_dim"] == 32 and Combiner(8).config()["hidden_dim"] == 64


def test_fitting_learns_the_triplets_and_is_seeded():
    generator = torch.Generator().manual_seed(0)
    images, texts = torch.randn(64, 6, generator=generator), torch.randn(64, 6, generator=generator)
    targets = images + 2 * texts  # a composition the gated residual can learn
    config = CombinerTraining(epochs=60, batch_size=16, lr=3e-3, dropout=0.0)
    combiner, losses = fit_combiner(images, texts, targets, config)
    assert losses[-1] < 0.5 * losses[0]
    again, repeated = fit_combiner(images, texts, targets, config)
    assert repeated == losses
    for a, b in zip(combiner.parameters(), again.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_the_combiner_trains_on_the_fixture_and_loads_back(tiny_clip_dir, fiq, tmp_path):
    encoder = qshift.load_encoder(f"hf:{tiny_clip_dir}", device="cpu")
    train = qshift.load_dataset(f"fashioniq:{fiq}", split="train")
    config = CombinerTraining(epochs=3, batch_size=8, lr=1e-3)
    weights, losses = train_combiner(
        encoder, f"hf:{tiny_clip_dir}", train, tmp_path / "c.safetensors", config
    )
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    assert sidecar["base"] == f"hf:{Path(tiny_clip_dir).resolve()}" and sidecar["dim"] == encoder.dim
    assert sidecar["training"]["losses"] == losses and sidecar["training"]["triplets"] == 15
    loaded = qshift.load_encoder(f"combiner:{weights}", device="cpu")
    assert loaded.name == f"combiner:{weights}"
    tower = loaded.query_tower("cir")
    assert isinstance(tower.compose, Combiner) and tower.image is loaded.tower("image")
    stored, _ = load_combiner(weights)
    for key, value in stored.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[f"composer.{key}"], value)
    # the default preset adapts the towers' LayerNorms (the combiner has none); "norm" takes every norm
    preset = {id(p) for p in loaded.adapt_params("cir")(tower)}
    combiner_ids = {id(p) for p in tower.compose.parameters()}
    assert preset and not preset & combiner_ids
    assert select_parameters(tower, "norm")
    val = qshift.load_dataset(f"fashioniq:{fiq}")
    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    result = qshift.evaluate(
        loaded, val, direction="cir", shift="text:char_swap@3", method="tcr", batch_size=4
    )
    assert {"r10_dress", "average"} <= set(result.metrics) and result.model == f"combiner:{weights}"
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_pretrain_combiner_cli_trains_and_reports_val(tiny_clip_dir, fiq, tmp_path, capsys):
    out = tmp_path / "cli" / "combiner.safetensors"
    argv = ["pretrain", "combiner", "--model", f"hf:{tiny_clip_dir}", "--dataset", f"fashioniq:{fiq}"]
    argv += ["--out", str(out), "--epochs", "2", "--batch-size", "8", "--device", "cpu", "--workers", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "val: r1 " in printed and "average" in printed
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert main([*argv[:-6], "--epochs", "0"]) == 2
    assert "--epochs: epochs must be >= 1" in capsys.readouterr().err
    assert main(["pretrain", "combiner", "--model", "hf:x", "--dataset", "coco:/x"]) == 2
    assert "--dataset" in capsys.readouterr().err


def test_combiner_checkpoint_errors_name_the_file_and_field(tiny_clip_dir, tmp_path):
    weights = tmp_path / "w.safetensors"
    with pytest.raises(FileNotFoundError, match="combiner weights not found"):
        qshift.load_encoder(f"combiner:{weights}")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in Combiner(24).state_dict().items()}, str(weights))
    write_json(
        weights.with_suffix(".json"), {"format": 1, "dim": 24, "projection_dim": 96, "hidden_dim": 192}
    )
    with pytest.raises(ValueError, match=r"w\.json: field 'base'"):
        qshift.load_encoder(f"combiner:{weights}")
    config = {"format": 1, "base": f"hf:{tiny_clip_dir}", "dim": 24, "projection_dim": 8, "hidden_dim": 192}
    write_json(weights.with_suffix(".json"), {**config, "dropout": 0.5})
    with pytest.raises(ValueError, match="do not fit the combiner"):
        qshift.load_encoder(f"combiner:{weights}")


# -- shifted copies ---------------------------------------------------------------------------------
def _on_the_fly(data, spec: str, index: int, seed: int):
    queries = QueryBatches(_Stub(), data, "cir", seed=seed)
    return queries.raw_item(index, parse_shift(spec))


class _Stub:
    """Enough of an encoder for :class:`QueryBatches` to shift raw items."""

    def check_modality(self, modality: str) -> None:
        assert modality == "image+text"


@pytest.mark.parametrize("kind", ["fashioniq", "cirr", "circo"])
def test_a_copy_equals_the_on_the_fly_shift_at_the_same_seed(kind, tmp_path):
    writers = {"fashioniq": write_fashioniq, "cirr": write_cirr, "circo": write_circo}
    root = writers[kind](tmp_path / "source")
    spec = f"{kind}:{root}"
    out = tmp_path / "out"
    manifest = build_cir(
        composed_layout(spec), out, "image:gaussian_noise,text:ocr", "4", seed=3, workers=1, progress=False
    )
    family = {"fashioniq": "FashionIQ", "cirr": "CIRR", "circo": "CIRCO"}[kind]
    assert set(manifest.folders) == {f"{family}_IP_gaussian_noise_4", f"{family}_TP_ocr_4"}
    source = qshift.load_dataset(spec)
    images = qshift.load_dataset(f"{kind}:{out / f'{family}_IP_gaussian_noise_4'}")
    texts = qshift.load_dataset(f"{kind}:{out / f'{family}_TP_ocr_4'}")
    for data in (images, texts):  # same gallery, relevance, exclusions and metrics
        assert data.count("image") == source.count("image") and data.metrics == source.metrics
        np.testing.assert_array_equal(data.items["image"][0], source.items["image"][0])
        assert [np.asarray(g).tolist() for g in data.groups["image+text"]] == [
            np.asarray(g).tolist() for g in source.groups["image+text"]
        ]
        assert [e.tolist() for e in data.excluded.get("cir", [])] == [
            e.tolist() for e in source.excluded.get("cir", [])
        ]
    for i in range(source.count("image+text")):
        shifted_image = _on_the_fly(source, "image:gaussian_noise@4", i, seed=3)
        np.testing.assert_array_equal(images.items["image+text"][i].image, shifted_image.image)
        assert images.items["image+text"][i].text == source.items["image+text"][i].text
        shifted_text = _on_the_fly(source, "text:ocr@4", i, seed=3)
        assert texts.items["image+text"][i].text == shifted_text.text
        np.testing.assert_array_equal(texts.items["image+text"][i].image, source.items["image+text"][i].image)
    assert item_seed(3, 0, "ocr", 4) != item_seed(3, 1, "ocr", 4)  # each query its own draw


def test_cir_copies_resume_and_respect_the_limit(tmp_path, capsys):
    root = write_cirr(tmp_path / "source")
    out = tmp_path / "out"
    argv = [
        "shift",
        "cir",
        "--dataset",
        f"cirr:{root}",
        "--out",
        str(out),
        "--shifts",
        "image:fog,text:char_swap",
    ]
    argv += ["--severities", "2", "--workers", "1"]
    assert main(argv) == 0
    assert "wrote 9 file(s), skipped 0" in capsys.readouterr().out  # 8 references + 1 text folder
    assert main(argv) == 0
    assert "wrote 0 file(s), skipped 9" in capsys.readouterr().out
    limited = tmp_path / "limited"
    assert main([*argv[:5], str(limited), *argv[6:], "--limit", "3"]) == 0
    copy = qshift.load_dataset(f"cirr:{limited / 'CIRR_IP_fog_2'}")
    assert copy.count("image+text") == 3 and copy.count("image") == 10
    assert main(["shift", "cir", "--dataset", f"cirr:{root}", "--out", str(out), "--shifts", "fog"]) == 2
    assert "--shifts: cir shifts are image:NAME or text:NAME" in capsys.readouterr().err
    assert main([*argv[:7], "image:fog", "--severities", "7"]) == 2
    assert "7 is outside 1..5 for image shifts" in capsys.readouterr().err
