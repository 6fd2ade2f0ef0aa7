"""The COCO-C / Flickr-C export: layout, seeds, resumability, manifest, errors, CLI."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

import qshift.shifts
from qshift.cli import main as cli_main
from qshift.cli import shift as shift_command
from qshift.errors import ParameterError
from qshift.shifts.export import (
    Manifest,
    build_images,
    build_texts,
    dataset_prefix,
    image_folder,
    parse_severities,
    parse_shifts,
    text_folder,
)
from qshift.shifts.spec import parse_shift
from qshift.utils.io import write_atomic
from qshift.utils.seeds import item_seed

from toys import ToyDualEncoder

CORRUPTIONS = ["gaussian_noise", "pixelate"]
SEVERITIES = [1, 5]
TEXT_SHIFTS = ["char_swap", "random_swap"]
LEVELS = [3, 7]
ANNOTATION = "coco_karpathy_test.json"
RELATIVE = [
    "val2014/a/img0.jpg",
    "val2014/a/img1.png",
    "val2014/b/c/img2.jpg",
    "val2014/b/img3.png",
    "val2014/img4.jpeg",
    "val2014/b/c/img5.png",
]
WORDS = ["a", "small", "red", "dog", "sitting", "next", "to", "the", "large", "wooden", "table"]


def _caption(rng: np.random.Generator) -> str:
    """A random caption of 8–12 words from a small vocabulary."""
    return " ".join(rng.choice(WORDS, size=int(rng.integers(8, 13))))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(annotation, image root) of 6 random PNG/JPG images in nested folders, 5–6 captions each."""
    root = tmp_path_factory.mktemp("coco")
    rng = np.random.default_rng(0)
    entries = []
    for index, rel in enumerate(RELATIVE):
        height, width = (int(v) for v in rng.integers(28, 48, size=2))
        smooth = np.cumsum(rng.integers(0, 12, size=(height, width, 3)), axis=1) % 256
        path = root / "images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth.astype(np.uint8)).save(path)
        captions = [_caption(rng) for _ in range(5 + index % 2)]
        entries.append({"image": rel, "caption": captions, "image_id": index})
    entries[4]["caption"] = entries[4]["caption"][0]  # a single-string caption stays a string
    annotation = root / ANNOTATION
    annotation.write_text(json.dumps(entries))
    return annotation, root / "images"


def _files(folder: Path) -> dict[str, bytes]:
    """Relative path → bytes of every file under ``folder`` (manifest excluded)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _images(dataset: tuple[Path, Path], out: Path, **kwargs) -> Manifest:
    """Build the test corruptions of ``dataset`` into ``out``."""
    options = {"shifts": CORRUPTIONS, "severities": SEVERITIES, "workers": 1, "progress": False, **kwargs}
    return build_images(dataset[0], dataset[1], out, **options)


def _texts(dataset: tuple[Path, Path], out: Path, **kwargs) -> Manifest:
    """Build the test text shifts of ``dataset`` into ``out``."""
    options = {"shifts": TEXT_SHIFTS, "severities": LEVELS, "workers": 1, "progress": False, **kwargs}
    return build_texts(dataset[0], out, **options)


def test_names_and_prefix() -> None:
    assert dataset_prefix("/d/coco_karpathy_test.json") == "COCO"
    assert dataset_prefix("flickr30k_test.json") == "Flickr"
    assert dataset_prefix("/d/my_split.json") == "my_split"
    assert image_folder("COCO", "fog", 5) == "COCO_IP_fog_5"
    assert text_folder("ocr", 7) == "annotation_ocr/7"


def test_item_seed_keeps_its_values_and_separates_its_inputs() -> None:
    # the values every on-the-fly benchmark number was measured with: they must never change
    assert item_seed(0, 3, "fog", 5) == 478590853
    assert item_seed(7, 24999, "ocr", 7) == 750781885
    assert item_seed(0, np.int64(3), "fog", 5) == 478590853
    seeds = {item_seed(0, 3, "fog", 5), item_seed(1, 3, "fog", 5), item_seed(0, 3, "snow", 5)}
    seeds |= {item_seed(0, 3, "fog", 4), item_seed(0, 4, "fog", 5)}
    assert len(seeds) == 5
    with pytest.raises(ValueError, match="non-negative"):
        item_seed(-1, 3, "fog", 5)


def test_parse_shifts_and_severities() -> None:
    assert parse_shifts(None, "image") == qshift.shifts.names("image")
    assert parse_shifts("fog, snow,fog", "image") == ["fog", "snow"]
    assert parse_shifts("all", "image") == qshift.shifts.names("image")
    paper = parse_shifts("paper", "text")
    assert len(paper) == 15 and "keyboard" not in paper
    assert parse_shifts("all", "text") == qshift.shifts.names("text")
    assert parse_shifts("char", "text")[0] == "keyboard" and len(parse_shifts("char", "text")) == 6
    assert parse_severities(None, "image") == [1, 2, 3, 4, 5]
    assert parse_severities(None, "text") == list(range(1, 8))
    assert parse_severities("5,1,5", "image") == [5, 1]
    with pytest.raises(ValueError, match="'fog2'"):
        parse_shifts("fog,fog2", "image")
    with pytest.raises(ValueError, match="'ocr'"):
        parse_shifts("ocr", "image")
    with pytest.raises(ValueError, match="6 is outside 1..5"):
        parse_severities("1,6", "image")
    with pytest.raises(ValueError, match="8 is outside 1..7"):
        parse_severities([8], "text")
    with pytest.raises(ValueError, match="'x'"):
        parse_severities("x", "image")


def test_images_layout_content_and_manifest(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    annotation, root = dataset
    manifest = _images(dataset, tmp_path, seed=3)
    for shift in CORRUPTIONS:
        for severity in SEVERITIES:
            folder = tmp_path / image_folder("COCO", shift, severity)
            assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.*")) == sorted(RELATIVE)
            for index, rel in enumerate(RELATIVE):
                source = np.asarray(Image.open(root / rel).convert("RGB"))
                with Image.open(folder / rel) as img:
                    assert img.format == ("PNG" if rel.endswith(".png") else "JPEG")
                    if img.format == "JPEG":
                        assert JpegImagePlugin.get_sampling(img) == 0  # 4:4:4, no chroma subsampling
                    written = np.asarray(img.convert("RGB"))
                assert written.shape == source.shape
                expected = qshift.shifts.apply(shift, source, severity, item_seed(3, index, shift, severity))
                if rel.endswith(".png"):  # lossless: exactly the corruption
                    np.testing.assert_array_equal(written, expected)
                else:  # JPEG q95 4:4:4: close to the corruption
                    assert np.abs(written.astype(float) - expected).mean() < 5
    run = manifest.last_run
    assert run["status"] == "completed" and run["kind"] == "image" and run["seed"] == 3
    assert run["annotation"]["sha256"] == hashlib.sha256(annotation.read_bytes()).hexdigest()
    assert set(run["versions"]) == {"qshift", "python", "numpy", "opencv", "pillow"}
    assert run["shifts"] == CORRUPTIONS and run["severities"] == SEVERITIES
    assert run["started"] <= run["finished"]
    assert run["counts"] == {
        image_folder("COCO", s, v): {"written": 6, "skipped": 0} for s in CORRUPTIONS for v in SEVERITIES
    }
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["runs"] == [run]
    assert on_disk["folders"]["COCO_IP_pixelate_5"] == {
        "shift": "pixelate",
        "severity": 5,
        "items": 6,
        "kind": "image",
        "seed": 3,
        "annotation_sha256": run["annotation"]["sha256"],
        "written": 6,
    }


def test_images_do_not_depend_on_worker_count(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    _images(dataset, tmp_path / "one", workers=1)
    _images(dataset, tmp_path / "two", workers=2)
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert len(one) == 24 and one == two


def test_images_resume_skips_finished_and_removes_temporaries(
    dataset: tuple[Path, Path], tmp_path: Path
) -> None:
    _images(dataset, tmp_path)
    folder = tmp_path / image_folder("COCO", "gaussian_noise", 5)
    (folder / RELATIVE[0]).unlink()
    (folder / RELATIVE[3]).unlink()
    stray = folder / "val2014/a/.img0.jpg.4242.qshift-tmp"
    stray.write_bytes(b"half an image")
    kept = folder / RELATIVE[1]
    mtime = kept.stat().st_mtime_ns
    manifest = _images(dataset, tmp_path)
    run = manifest.last_run
    assert run["temporaries_removed"] == 1 and not stray.exists()
    assert run["counts"][folder.name] == {"written": 2, "skipped": 4}
    assert sum(c["written"] for c in run["counts"].values()) == 2
    assert sum(c["skipped"] for c in run["counts"].values()) == 22
    assert kept.stat().st_mtime_ns == mtime
    assert manifest.folders[folder.name]["written"] == 8 and len(manifest.runs) == 2
    assert _files(tmp_path) == _files(_fresh(dataset, tmp_path / "fresh"))


def _fresh(dataset: tuple[Path, Path], out: Path) -> Path:
    """A build of the test corruptions into a new folder."""
    _images(dataset, out)
    return out


def test_interrupted_run_leaves_no_partial_files_and_resumes(
    dataset: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_apply, calls = qshift.shifts.apply, []

    def interrupted(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(qshift.shifts, "apply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _images(dataset, tmp_path / "out")
    monkeypatch.setattr(qshift.shifts, "apply", real_apply)
    out = tmp_path / "out"
    assert len(_files(out)) == 4 and not list(out.rglob("*qshift-tmp"))
    interrupted_run = Manifest.load(out).last_run
    assert interrupted_run["status"] == "interrupted"
    assert sum(c["written"] for c in interrupted_run["counts"].values()) <= 4  # finished chunks only
    run = _images(dataset, out).last_run
    assert sum(c["written"] for c in run["counts"].values()) == 20
    assert sum(c["skipped"] for c in run["counts"].values()) == 4
    assert _files(out) == _files(_fresh(dataset, tmp_path / "fresh"))


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    def half_write(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "sub" / "x.png", half_write)
    assert list((tmp_path / "sub").iterdir()) == []


def test_texts_layout_schema_and_content(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    annotation, _ = dataset
    source = json.loads(annotation.read_text())
    manifest = _texts(dataset, tmp_path, seed=7)
    flat_index = 0
    outputs = {
        (s, v): json.loads((tmp_path / text_folder(s, v) / ANNOTATION).read_text())
        for s in TEXT_SHIFTS
        for v in LEVELS
    }
    for entry_index, entry in enumerate(source):
        captions = [entry["caption"]] if isinstance(entry["caption"], str) else entry["caption"][:5]
        for (shift, level), data in outputs.items():
            out_entry = data[entry_index]
            assert {k: v for k, v in out_entry.items() if k != "caption"} == {
                k: v for k, v in entry.items() if k != "caption"
            }
            got = [out_entry["caption"]] if isinstance(entry["caption"], str) else out_entry["caption"]
            assert isinstance(out_entry["caption"], type(entry["caption"]))
            want = [
                qshift.shifts.apply(shift, c, level, item_seed(7, flat_index + i, shift, level))
                for i, c in enumerate(captions)
            ]
            assert got == want
        flat_index += len(captions)
    assert outputs[("char_swap", 7)] != source
    assert len(outputs[("random_swap", 3)][1]["caption"]) == 5  # the 6th caption is dropped
    counts = manifest.last_run["counts"]
    assert counts == {text_folder(s, v): {"written": 1, "skipped": 0} for s in TEXT_SHIFTS for v in LEVELS}


def test_texts_workers_resume_and_limit(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    _texts(dataset, tmp_path / "one", workers=1)
    _texts(dataset, tmp_path / "two", workers=2)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    target = tmp_path / "one" / text_folder("char_swap", 3) / ANNOTATION
    mtime = target.stat().st_mtime_ns
    run = _texts(dataset, tmp_path / "one").last_run
    assert all(c == {"written": 0, "skipped": 1} for c in run["counts"].values())
    assert target.stat().st_mtime_ns == mtime
    limited = tmp_path / "limited"
    _texts(dataset, limited, limit=2)
    assert len(json.loads((limited / text_folder("char_swap", 3) / ANNOTATION).read_text())) == 2
    run = _texts(dataset, limited).last_run  # a shorter file from a --limit run is rebuilt
    assert all(c == {"written": 1, "skipped": 0} for c in run["counts"].values())
    assert _files(limited) == _files(tmp_path / "one")


def test_sentence_level_written_once_at_level_one(
    dataset: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qshift.shifts.text as text

    seen = []

    def fake_many(name: str, captions: list[str], severity: int, seed: int, **options) -> list[str]:
        seen.append((name, len(captions), options))
        return [c.upper() for c in captions]

    monkeypatch.setattr(text, "perturb_many", fake_many)
    model = tmp_path / "model"
    with pytest.raises(ValueError, match="'formal' needs a local seq2seq model.*shifts char,word"):
        _texts(dataset, tmp_path / "out", shifts="formal", options={"model_dir": str(model)})
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="serves one sentence-level shift"):
        _texts(dataset, tmp_path / "out", shifts="formal,casual", options={"model_dir": str(model)})
    options = {"model_dir": str(model)}
    manifest = _texts(dataset, tmp_path / "out", shifts="formal", severities=[3, 7], options=options)
    assert list(manifest.last_run["counts"]) == ["annotation_formal/1"]
    assert seen == [("formal", 26, options)]
    data = json.loads((tmp_path / "out/annotation_formal/1" / ANNOTATION).read_text())
    assert data[0]["caption"][0] == json.loads(dataset[0].read_text())[0]["caption"][0].upper()


def test_outputs_load_as_karpathy_datasets(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    from qshift.data import load_dataset

    annotation, root = dataset
    _images(dataset, tmp_path, shifts=["pixelate"], severities=[5])
    _texts(dataset, tmp_path, shifts=["char_swap"], severities=[7])
    clean = load_dataset(f"karpathy:{annotation}:{root}")
    corrupted = load_dataset(f"karpathy:{annotation}:{tmp_path / 'COCO_IP_pixelate_5'}")
    assert corrupted.num_images == clean.num_images == 6 and corrupted.texts == clean.texts
    assert corrupted.images[2].shape == clean.images[2].shape
    assert not np.array_equal(corrupted.images[2], clean.images[2])
    perturbed = load_dataset(f"karpathy:{tmp_path / 'annotation_char_swap/7' / ANNOTATION}:{root}")
    assert perturbed.num_texts == clean.num_texts == 26
    np.testing.assert_array_equal(perturbed.text_groups, clean.text_groups)
    assert perturbed.texts != clean.texts


def test_image_copy_equals_the_on_the_fly_shift(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    """Image ``i`` of a copy is what a query stream at the same seed feeds the model for query ``i``."""
    from qshift.data import load_dataset
    from qshift.data.queries import QueryBatches

    annotation, root = dataset
    _images(dataset, tmp_path, shifts=["gaussian_noise"], severities=[5], seed=11)
    clean = load_dataset(f"karpathy:{annotation}:{root}")
    written = load_dataset(f"karpathy:{annotation}:{tmp_path / image_folder('COCO', 'gaussian_noise', 5)}")
    stream = QueryBatches(ToyDualEncoder.build(), clean, "i2t", seed=11)
    spec = parse_shift("gaussian_noise@5")
    for index, rel in enumerate(RELATIVE):
        on_the_fly = stream.raw_item(index, spec)
        assert not np.array_equal(on_the_fly, clean.images[index])
        if rel.endswith(".png"):  # lossless: the very pixels
            np.testing.assert_array_equal(written.images[index], on_the_fly)
        else:  # JPEG q95 4:4:4: the pixels up to the re-encoding
            assert np.abs(written.images[index].astype(float) - on_the_fly).mean() < 5


@pytest.mark.parametrize(("shift", "level"), [("char_swap", 5), ("random_swap", 3)])
def test_text_copy_equals_the_on_the_fly_shift(
    dataset: tuple[Path, Path], tmp_path: Path, shift: str, level: int
) -> None:
    """Caption ``j`` of a copy is the on-the-fly shift of query ``j`` (captions already normalised)."""
    from qshift.data import load_dataset
    from qshift.data.queries import QueryBatches

    annotation, root = dataset
    _texts(dataset, tmp_path, shifts=[shift], severities=[level], seed=5)
    clean = load_dataset(f"karpathy:{annotation}:{root}")
    written = load_dataset(f"karpathy:{tmp_path / text_folder(shift, level) / ANNOTATION}:{root}")
    stream = QueryBatches(ToyDualEncoder.build(), clean, "t2i", seed=5)
    spec = parse_shift(f"{shift}@{level}")
    on_the_fly = [stream.raw_item(index, spec) for index in range(clean.num_texts)]
    assert written.texts == on_the_fly and on_the_fly != clean.texts


def test_errors_name_the_problem(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    annotation, root = dataset
    with pytest.raises(FileNotFoundError, match="missing.json"):
        build_images(tmp_path / "missing.json", root, tmp_path / "out", progress=False)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        build_texts(tmp_path / "missing.json", tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="'blur'"):
        build_images(annotation, root, tmp_path / "out", shifts="blur", progress=False)
    with pytest.raises(ValueError, match="0 is outside"):
        build_texts(annotation, tmp_path / "out", severities="0", progress=False)
    with pytest.raises(ParameterError, match="workers must be >= 1") as caught:
        _images(dataset, tmp_path / "out", workers=0)
    assert caught.value.param == "workers"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image": "../escape.png", "caption": ["x"]}]))
    with pytest.raises(ValueError, match="escape.png"):
        build_images(bad, root, tmp_path / "out", progress=False)
    bad.write_text(json.dumps([{"image": "val2014/nowhere.png", "caption": ["x"]}]))
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        build_images(bad, root, tmp_path / "out", progress=False)
    bad.write_text(json.dumps([{"image": "val2014/a/img0.jpg"}]))
    with pytest.raises(ValueError, match="entry 0 has no field 'caption'"):
        build_texts(bad, tmp_path / "out", progress=False)
    _images(dataset, tmp_path / "seeded", shifts=["pixelate"], severities=[1], limit=1)
    with pytest.raises(ValueError, match="built with seed=0; this run has seed=1"):
        _images(dataset, tmp_path / "seeded", shifts=["pixelate"], severities=[1], seed=1)
    _texts(dataset, tmp_path / "seeded", shifts=["random_swap"], severities=[1], limit=1)
    with pytest.raises(ValueError, match="min_cosine=None; this run has min_cosine=0.5"):
        _texts(dataset, tmp_path / "seeded", shifts=["random_swap"], severities=[1], min_cosine=0.5)
    manifest = tmp_path / "seeded" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 1}))
    with pytest.raises(ParameterError, match="has format 1, whose files were seeded otherwise"):
        _texts(dataset, tmp_path / "seeded", shifts=["random_swap"], severities=[1], limit=1)
    manifest.write_text("[]")
    with pytest.raises(ParameterError, match="is unreadable"):
        _texts(dataset, tmp_path / "seeded", shifts=["random_swap"], severities=[1], limit=1)


def test_cli_builds_both_kinds(
    dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    annotation, root = dataset
    parser = argparse.ArgumentParser(prog="qshift")
    shift_command.register(parser.add_subparsers(dest="command"))
    spec = f"karpathy:{annotation}:{root}"
    common = ["--dataset", spec, "--out", str(tmp_path), "--workers", "1", "--limit", "2"]
    args = parser.parse_args(["shift", "images", *common, "--shifts", "contrast", "--severities", "2"])
    assert args.func(args) == 0
    assert sorted(p.name for p in (tmp_path / "COCO_IP_contrast_2").rglob("*.*")) == ["img0.jpg", "img1.png"]
    assert "wrote 2 file(s)" in capsys.readouterr().out
    args = parser.parse_args(["shift", "texts", *common, "--shifts", "ocr,char_delete", "--severities", "5"])
    assert args.func(args) == 0
    assert (tmp_path / "annotation_ocr/5" / ANNOTATION).is_file()
    assert (tmp_path / "annotation_char_delete/5" / ANNOTATION).is_file()
    assert cli_main(["shift", "images", *common, "--severities", "9"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == "qshift: error: --severities: 9 is outside 1..5 for image shifts"


@pytest.mark.slow
def test_killed_cli_run_resumes_to_the_same_output(tmp_path: Path) -> None:
    """SIGKILL a real ``python -m qshift shift images`` run with 2 workers, then resume it."""
    rng = np.random.default_rng(1)
    entries = []
    for index in range(12):
        rel = f"d{index % 3}/img{index}.jpg"
        (tmp_path / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(tmp_path / "images" / rel)
        entries.append({"image": rel, "caption": ["a dog on a table"]})
    annotation = tmp_path / ANNOTATION
    annotation.write_text(json.dumps(entries))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "qshift", "shift", "images", "--dataset",
               f"karpathy:{annotation}:{tmp_path / 'images'}", "--out", str(out), "--severities", "3",
               "--workers", "2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(out.rglob("*.jpg"))) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)  # a fast machine writes ~1500 of these small files a second
    process.kill()
    process.wait()
    time.sleep(1.5)  # the workers die with their parent (at once on Linux, within 0.05 s elsewhere)
    after_kill = len(list(out.rglob("*.jpg")))
    time.sleep(1.0)
    assert 20 <= len(list(out.rglob("*.jpg"))) == after_kill < 12 * 16
    assert Manifest.load(out).last_run["status"] == "running"
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = Manifest.load(out).last_run
    assert run["status"] == "completed"
    assert sum(c["written"] for c in run["counts"].values()) == 12 * 16 - after_kill
    fresh = tmp_path / "fresh"
    build_images(annotation, tmp_path / "images", fresh, severities=[3], progress=False)
    assert _files(out) == _files(fresh)
