"""``qshift shift audio|video``: a copy read back through its dataset spec is the on-the-fly shift."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from av_fixtures import write_audiocaps, write_avcsv, write_msrvtt
from torch import nn

from qshift.cli import main
from qshift.data import load_dataset
from qshift.data.queries import QueryBatches
from qshift.encoders.base import RetrievalModel
from qshift.shifts.export import build_audio, media_folder
from qshift.shifts.spec import parse_shift
from qshift.utils.media import read_audio


class Stub(RetrievalModel):
    """Accepts every audio/video/text query: QueryBatches only needs the modality check."""

    modalities = ("audio", "video", "text")
    dim = 1

    def tower(self, modality: str) -> nn.Module:
        return nn.Identity()


@pytest.fixture(scope="module")
def audiocaps(tmp_path_factory):
    return write_audiocaps(tmp_path_factory.mktemp("audiocaps"))


@pytest.fixture(scope="module")
def msrvtt(tmp_path_factory):
    return write_msrvtt(tmp_path_factory.mktemp("msrvtt"))


@pytest.fixture(scope="module")
def avcsv(tmp_path_factory):
    return write_avcsv(tmp_path_factory.mktemp("avcsv"))


def on_the_fly(spec: str, task: str, shift: str, seed: int) -> list[np.ndarray]:
    dataset = load_dataset(spec)
    stream = QueryBatches(Stub(), dataset, task, seed=seed)
    return [stream.raw_item(i, parse_shift(shift)) for i in range(stream.num_queries)]


def shift_cli(capsys, kind: str, spec: str, out: Path, *flags: str) -> str:
    code = main(["shift", kind, "--dataset", spec, "--out", str(out), "--workers", "1", *flags])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_audio_copy_equals_the_on_the_fly_shift(capsys, audiocaps, tmp_path):
    out = tmp_path / "copies"
    summary = shift_cli(
        capsys,
        "audio",
        audiocaps.spec,
        out,
        "--shifts",
        "rain,gaussian_noise",
        "--severities",
        "5",
        "--seed",
        "7",
    )
    assert "wrote 8 file(s), skipped 0" in summary
    for shift in ("rain", "gaussian_noise"):
        folder = out / media_folder("AudioCaps", "AP", shift, 5)
        copy = load_dataset(f"audiocaps:{audiocaps.annotation}:{folder}").items["audio"]
        expected = on_the_fly(audiocaps.spec, "a2t", f"{shift}@5", seed=7)
        clean = load_dataset(audiocaps.spec).items["audio"]
        for index, wave in enumerate(expected):
            assert not np.array_equal(wave, clean[index])
            np.testing.assert_array_equal(copy[index], wave)
    again = shift_cli(
        capsys, "audio", audiocaps.spec, out, "--shifts", "rain", "--severities", "5", "--seed", "7"
    )
    assert "wrote 0 file(s), skipped 4" in again
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"][0]["kind"] == "audio" and manifest["runs"][0]["shift_options"] == {
        "sample_rate": 16000
    }


def test_video_copy_equals_the_on_the_fly_shift(capsys, msrvtt, tmp_path):
    out = tmp_path / "copies"
    shift_cli(
        capsys,
        "video",
        msrvtt.spec,
        out,
        "--shifts",
        "motion_blur,frame_drop",
        "--severities",
        "3",
        "--seed",
        "3",
    )
    for shift in ("motion_blur", "frame_drop"):
        folder = out / media_folder("MSRVTT", "VP", shift, 3)
        assert sorted(p.name for p in folder.iterdir()) == [f"video{7000 + i}.mp4" for i in range(4)]
        copy = load_dataset(f"msrvtt:{msrvtt.annotation}:{folder}").items["video"]
        for index, clip in enumerate(on_the_fly(msrvtt.spec, "v2t", f"{shift}@3", seed=3)):
            assert clip.shape == (8, 224, 224, 3)
            np.testing.assert_array_equal(copy[index], clip)


def test_avcsv_copies_load_with_the_clean_other_half(capsys, avcsv, tmp_path):
    out = tmp_path / "copies"
    shift_cli(capsys, "audio", avcsv.spec, out, "--shifts", "wind", "--severities", "2")
    shift_cli(capsys, "video", avcsv.spec, out, "--shifts", "freeze", "--severities", "4", "--limit", "2")
    sounds = out / media_folder("vggsound", "AP", "wind", 2)
    assert sorted(p.name for p in sounds.iterdir()) == [f"-x{i}_Yz_{10 * i + 1:06d}.wav" for i in range(4)]
    copy = load_dataset(f"avcsv:{avcsv.annotation}:{avcsv.root}:{sounds}")
    for index, wave in enumerate(on_the_fly(avcsv.spec, "a2v", "wind@2", seed=0)):
        np.testing.assert_array_equal(copy.items["audio"][index], wave)
    frames = out / media_folder("vggsound", "VP", "freeze", 4)
    assert len(list(frames.iterdir())) == 2
    limited = load_dataset(f"avcsv:{avcsv.annotation}:{frames}:{avcsv.root}", skip_missing=True)
    for index, clip in enumerate(on_the_fly(avcsv.spec, "v2a", "freeze@4", seed=0)[:2]):
        np.testing.assert_array_equal(limited.items["video"][index], clip)


def test_pool_workers_write_the_same_copies(audiocaps, tmp_path):
    source = load_dataset(audiocaps.spec).items["audio"]
    build_audio(source, tmp_path / "one", "crowd", "3", seed=1, workers=1, progress=False)
    build_audio(source, tmp_path / "two", "crowd", "3", seed=1, workers=2, progress=False)
    folder = media_folder("AudioCaps", "AP", "crowd", 3)
    written = sorted((tmp_path / "one" / folder).iterdir())
    assert len(written) == 4
    for path in written:  # the samples (libsndfile stamps float WAVs with the time of writing)
        np.testing.assert_array_equal(read_audio(path), read_audio(tmp_path / "two" / folder / path.name))


@pytest.mark.parametrize(
    ("kind", "flags", "message"),
    [
        ("video", (), "--dataset: audiocaps:"),
        ("audio", ("--shifts", "motion_blur"), "--shifts: unknown audio shift 'motion_blur'"),
        ("audio", ("--severities", "6"), "--severities: 6 is outside 1..5 for audio shifts"),
    ],
)
def test_export_user_errors_are_one_line(capsys, audiocaps, tmp_path, kind, flags, message):
    code = main(["shift", kind, "--dataset", audiocaps.spec, "--out", str(tmp_path / "o"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    if kind == "video":
        assert "has no video files to copy" in err[0]
