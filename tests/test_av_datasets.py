"""AudioCaps, Clotho, MSR-VTT and AudioSet/VGGSound-style CSV loaders on tiny fixtures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from av_fixtures import clip, tone, write_audiocaps, write_avcsv, write_clotho, write_msrvtt

from qshift.data import load_dataset
from qshift.data.audio_text import load_audio_captions
from qshift.data.av_csv import load_av_csv
from qshift.data.msrvtt import load_msrvtt
from qshift.utils.media import read_audio, write_video


@pytest.fixture(scope="module")
def audiocaps(tmp_path_factory):
    return write_audiocaps(tmp_path_factory.mktemp("audiocaps"))


@pytest.fixture(scope="module")
def clotho(tmp_path_factory):
    return write_clotho(tmp_path_factory.mktemp("clotho"))


@pytest.fixture(scope="module")
def msrvtt(tmp_path_factory):
    return write_msrvtt(tmp_path_factory.mktemp("msrvtt"))


@pytest.fixture(scope="module")
def avcsv(tmp_path_factory):
    return write_avcsv(tmp_path_factory.mktemp("avcsv"))


def groups_of(dataset, modality):
    return np.asarray(dataset.groups[modality]).tolist()


# -- audio–text -----------------------------------------------------------------------------------
def test_audiocaps_groups_caption_rows_by_clip(audiocaps):
    dataset = load_dataset(audiocaps.spec)
    assert dataset.name == audiocaps.spec and dataset.metrics == ("medr",)
    assert len(dataset.items["audio"]) == 4
    assert dataset.items["text"][:3] == [
        "sound number 0 caption 0",
        "sound number 0 caption 1",
        "sound number 1 caption 0",
    ]
    assert groups_of(dataset, "text") == [0, 0, 1, 1, 1, 2, 2, 3, 3]
    assert groups_of(dataset, "audio") == [0, 1, 2, 3]


def test_audiocaps_audio_is_mono_16k_float(audiocaps):
    audio = load_dataset(audiocaps.spec).items["audio"]
    for i in range(4):
        wave = audio[i]
        assert wave.dtype == np.float32 and wave.ndim == 1
        assert len(wave) == pytest.approx(16000 * (1 + 0.25 * i), abs=2)
    np.testing.assert_allclose(audio[0], tone(0, 1.0), atol=1e-6)  # a 16 kHz float WAV reads back as written
    at_48k = load_dataset(audiocaps.spec, sample_rate=48000).items["audio"]
    assert len(at_48k[0]) == 48000 and at_48k.shift_options == {"sample_rate": 48000}


def test_items_load_lazily(audiocaps, monkeypatch):
    import qshift.data.av_files as av_files

    def refuse(*args, **kwargs):
        raise AssertionError("decoded at load time")

    monkeypatch.setattr(av_files, "read_audio", refuse)
    audio = load_dataset(audiocaps.spec).items["audio"]
    with pytest.raises(AssertionError, match="decoded at load time"):
        audio[0]


def test_audiocaps_file_pattern_and_missing_files(audiocaps, tmp_path):
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for path in audiocaps.root.iterdir():
        (renamed / f"Y{path.name}").write_bytes(path.read_bytes())
    (renamed / f"Y{sorted(p.name for p in audiocaps.root.iterdir())[2]}").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 4 audio file\(s\) not found, e.g. .*Yyt2AbC-2.wav"):
        load_audio_captions(audiocaps.annotation, renamed, file_pattern="Y{youtube_id}.wav")
    kept = load_audio_captions(
        audiocaps.annotation, renamed, file_pattern="Y{youtube_id}.wav", skip_missing=True
    )
    assert len(kept.items["audio"]) == 3 and groups_of(kept, "text") == [0, 0, 1, 1, 1, 2, 2]
    with pytest.raises(ValueError, match=r"file_pattern '\{ytid\}.wav' cannot be filled from line 2"):
        load_audio_captions(audiocaps.annotation, renamed, file_pattern="{ytid}.wav")


def test_clotho_reads_caption_columns(clotho):
    dataset = load_dataset(clotho.spec)
    assert len(dataset.items["audio"]) == 3 and len(dataset.items["text"]) == 15
    assert dataset.items["text"][5] == "clip 1: a sound, take 0"
    assert len(dataset.items["audio"][2]) == 32000  # 2 s at 44.1 kHz, read at 16 kHz
    assert dataset.items["audio"].files[0].copy_name == "rain, on roof 0.wav"
    assert len(load_dataset(clotho.spec, max_captions=2).items["text"]) == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "file_name,text\na.wav,hello\n",
            r"no 'caption' or 'caption_<n>' column \(columns: file_name, text\)",
        ),
        ("file_name,caption\na.wav,\n", r"line 2 has an empty 'caption'"),
        ("file_name,caption\n../a.wav,hi\n", r"audio file '../a.wav' must be a relative path inside"),
        ("", r"the CSV file is empty"),
    ],
)
def test_audio_caption_errors_name_file_and_field(tmp_path, content, message):
    (tmp_path / "c.csv").write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        load_audio_captions(tmp_path / "c.csv", tmp_path)
    assert str(tmp_path / "c.csv") in str(err.value)


def test_audio_text_spec_errors(tmp_path):
    with pytest.raises(ValueError, match=r"expected clotho:<captions.csv>:<audio_root>"):
        load_dataset(f"clotho:{tmp_path / 'a.csv'}")
    with pytest.raises(FileNotFoundError, match="audio root directory not found"):
        load_dataset(f"audiocaps:{tmp_path / 'a.csv'}:{tmp_path / 'nowhere'}")
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        load_dataset(f"audiocaps:{tmp_path / 'a.csv'}:{tmp_path}")


# -- MSR-VTT --------------------------------------------------------------------------------------
def test_msrvtt_1k_a_csv_gives_one_sentence_per_video(msrvtt):
    dataset = load_dataset(msrvtt.spec)
    videos = dataset.items["video"]
    assert len(videos) == 4 and dataset.items["text"][1] == "a square of colour 1 moves"
    assert groups_of(dataset, "text") == [0, 1, 2, 3]
    clip = videos[0]
    assert clip.shape == (8, 224, 224, 3) and clip.dtype == np.uint8


def test_msrvtt_json_with_a_split_keeps_every_caption(msrvtt):
    root = msrvtt.annotation.parent
    dataset = load_dataset(f"msrvtt:{root / 'MSRVTT_data.json'}:{msrvtt.root}:{root / 'test_list.txt'}")
    assert len(dataset.items["video"]) == 3 and len(dataset.items["text"]) == 9
    assert dataset.items["text"][0] == "clip 1 caption 0"
    native = load_msrvtt(msrvtt.annotation, msrvtt.root, frames=4, size=None).items["video"]
    assert native[1].shape == (4, 24, 32, 3)


def test_msrvtt_errors_name_file_and_field(msrvtt, tmp_path):
    root = msrvtt.annotation.parent
    (tmp_path / "split.txt").write_text("video7001\nvideo9999\n")
    with pytest.raises(ValueError, match=r"split.txt: video 'video9999' has no caption in"):
        load_msrvtt(root / "MSRVTT_data.json", msrvtt.root, tmp_path / "split.txt")
    (tmp_path / "bad.json").write_text(json.dumps({"videos": []}))
    with pytest.raises(ValueError, match=r"bad.json: expected a non-empty 'sentences' list"):
        load_msrvtt(tmp_path / "bad.json", msrvtt.root)
    (tmp_path / "list.json").write_text(json.dumps([{"video_id": "video7000"}]))
    with pytest.raises(ValueError, match=r"list.json: entry 0 has no field 'caption' or 'captions'"):
        load_msrvtt(tmp_path / "list.json", msrvtt.root)
    (tmp_path / "jsf.csv").write_text("key,video_id\nret0,video7000\n")
    with pytest.raises(ValueError, match=r"jsf.csv: no column 'sentence' in the header"):
        load_msrvtt(tmp_path / "jsf.csv", msrvtt.root)
    (tmp_path / "gone.csv").write_text("video_id,sentence\nvideo1234,hello\n")
    with pytest.raises(FileNotFoundError, match=r"1 of 1 video file\(s\) not found, e.g. .*video1234.mp4"):
        load_msrvtt(tmp_path / "gone.csv", msrvtt.root)


def test_unreadable_video_names_its_file(msrvtt, tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "video7000.mp4").write_bytes(b"not a video")
    (tmp_path / "one.csv").write_text("video_id,sentence\nvideo7000,hello\n")
    videos = load_msrvtt(tmp_path / "one.csv", tmp_path / "videos").items["video"]
    with pytest.raises(ValueError, match=r"cannot decode video file .*video7000.mp4"):
        videos[0]


# -- AudioSet / VGGSound style CSV ----------------------------------------------------------------
def test_avcsv_pairs_each_clip_with_its_sound(avcsv):
    dataset = load_dataset(avcsv.spec)
    assert set(dataset.items) == {"audio", "video"} and len(dataset.items["video"]) == 4
    assert groups_of(dataset, "audio") == groups_of(dataset, "video") == [0, 1, 2, 3]
    assert dataset.items["video"][0].shape == (8, 224, 224, 3)
    from_stream, from_wav = dataset.items["audio"][0], dataset.items["audio"][1]
    assert from_stream.dtype == from_wav.dtype == np.float32
    assert len(from_stream) == pytest.approx(16000, abs=2048)  # AAC adds its priming samples
    np.testing.assert_array_equal(from_wav, read_audio(avcsv.root / "-x1_Yz_000011.wav"))
    assert dataset.items["audio"].files[0].copy_name == "-x0_Yz_000001.wav"


def test_avcsv_split_relevance_and_missing_clips(avcsv):
    by_label = load_av_csv(avcsv.annotation, avcsv.root, relevance="label")
    assert groups_of(by_label, "audio") == [0, 1, 0, 1]
    with pytest.raises(
        FileNotFoundError, match=r"1 of 5 video file\(s\) not found, e.g. .*trainclip_000005.mp4"
    ):
        load_av_csv(avcsv.annotation, avcsv.root, split=None)
    assert len(load_av_csv(avcsv.annotation, avcsv.root, split=None, skip_missing=True).items["audio"]) == 4
    with pytest.raises(ValueError, match=r"no clip of split 'val' \(splits: test, train\)"):
        load_av_csv(avcsv.annotation, avcsv.root, split="val")


def test_avcsv_reads_an_audioset_header(avcsv, tmp_path):
    (tmp_path / "segments.csv").write_text(
        "# Segments csv created Sun Mar  5 10:54:25 2017\n"
        "# num_ytids=2, num_segs=2\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        '-x0_Yz, 1.000, 11.000, "/m/09x0r,/m/04rlf"\n'
        '-x1_Yz, 11.000, 21.000, "/m/04rlf"\n'
    )
    dataset = load_av_csv(tmp_path / "segments.csv", avcsv.root)
    assert len(dataset.items["video"]) == 2
    with pytest.raises(ValueError, match=r"line 4 has several labels"):
        load_av_csv(tmp_path / "segments.csv", avcsv.root, relevance="label")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("-x0_Yz,soon,label\n", r"line 1 field 'start_seconds' must be a number, got 'soon'"),
        ("-x0_Yz,1\n", r"line 1 has no 'label'"),
        ("-x0_Yz,,dog\n", r"line 1 has an empty 'start_seconds'"),
        ("# just a comment\n", r"the CSV lists no clips"),
    ],
)
def test_avcsv_errors_name_line_and_field(avcsv, tmp_path, content, message):
    (tmp_path / "clips.csv").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_av_csv(tmp_path / "clips.csv", avcsv.root)


def test_bad_media_files_name_themselves(avcsv, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    write_video(clips / "silent_000001.mp4", clip(0), fps=8)
    (clips / "broken_000002.mp4").write_bytes(b"not a video")
    (clips / "broken_000002.wav").write_bytes(b"not a sound")
    (tmp_path / "clips.csv").write_text("silent,1,quiet\nbroken,2,noise\n")
    sounds = load_av_csv(tmp_path / "clips.csv", clips).items["audio"]
    with pytest.raises(ValueError, match=r"video file .*silent_000001.mp4 has no audio stream"):
        sounds[0]
    with pytest.raises(ValueError, match=r"cannot decode audio file .*broken_000002.wav"):
        sounds[1]
