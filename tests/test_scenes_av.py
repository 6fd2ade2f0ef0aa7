"""The ``scenes-av`` benchmark: clips, soundtracks that follow the scene, splits and the dataset spec."""

from __future__ import annotations

import numpy as np
import pytest

from qshift.data import load_dataset
from qshift.data.scenes import COLOURS, SHAPES, Background, Scene, SceneObject
from qshift.scenes_av.clips import FRAME_SIZE, FRAMES, Clip, Motion, make_clip, render_clip
from qshift.scenes_av.dataset import clip_audio, clip_video, scenes_av_split
from qshift.scenes_av.soundtrack import (
    GAINS,
    ONSET_STEP,
    PITCHES,
    SAMPLE_RATE,
    TIMBRES,
    render_voice,
    soundtrack,
    voice,
)

BACKGROUND = Background("stripes", (120, 120, 120), (140, 140, 140), 0.1, 0.0, 0.0)


def one_object(shape="circle", colour="blue", size="large", col=1, direction="left", speed="slow") -> Clip:
    """A clip of one object in the middle row of column ``col``."""
    obj = SceneObject(shape, colour, size, 1, col, (col + 0.5) / 3, 0.5, 0.14, 0.0, COLOURS[colour])
    return Clip(Scene((obj,), BACKGROUND), (Motion(direction, speed),))


def sound(clip: Clip) -> np.ndarray:
    """The clip's voice without pitch jitter, so that the mapping can be read off exactly."""
    obj, motion = clip.scene.objects[0], clip.motions[0]
    return render_voice(voice(obj, motion), np.random.default_rng(0))


def peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE)[spectrum.argmax()])


def test_every_shape_and_colour_has_a_sound():
    assert set(TIMBRES) == set(SHAPES) and set(PITCHES) == set(COLOURS)
    assert len(set(PITCHES.values())) == len(COLOURS)


@pytest.mark.parametrize("colour", ["red", "green", "purple", "white"])
def test_pitch_follows_colour(colour):
    assert peak_hz(sound(one_object(colour=colour))) == pytest.approx(PITCHES[colour], rel=0.02)


def test_loudness_follows_size():
    large, small = sound(one_object(size="large")), sound(one_object(size="small"))
    ratio = np.sqrt((large**2).mean() / (small**2).mean())
    assert ratio == pytest.approx(GAINS["large"] / GAINS["small"], rel=1e-6)
    assert 20 * np.log10(ratio) == pytest.approx(7.0)


def test_timbre_follows_shape():
    def third_harmonic_share(wave: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(wave)) ** 2
        freqs = np.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE)
        near = np.abs(freqs - 3 * PITCHES["blue"]) < 20
        return float(spectrum[near].sum() / spectrum.sum())

    assert third_harmonic_share(sound(one_object(shape="square"))) > 0.05
    assert third_harmonic_share(sound(one_object(shape="circle"))) < 1e-4


def note_onsets(wave: np.ndarray) -> np.ndarray:
    """Start times (s) of the notes: where the 5-ms RMS first rises past half its maximum."""
    frames = wave[: len(wave) // 80 * 80].reshape(-1, 80)
    rms = np.sqrt((frames**2).mean(axis=1))
    loud = rms > 0.5 * rms.max()
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    return np.concatenate([[0] if loud[0] else [], starts]) * 80 / SAMPLE_RATE


def test_rhythm_follows_speed_and_onset_follows_column():
    assert len(note_onsets(sound(one_object(speed="slow", col=0)))) == 4
    assert len(note_onsets(sound(one_object(speed="fast", col=0)))) == 8
    for col in range(3):
        first = note_onsets(sound(one_object(col=col)))[0]
        assert first == pytest.approx(col * ONSET_STEP, abs=0.01)


def test_pitch_glides_up_and_down_with_vertical_motion():
    def glide(direction: str) -> float:
        wave = sound(one_object(direction=direction, speed="slow", col=0))
        quarter = len(wave) // 4
        return peak_hz(wave[-quarter:]) / peak_hz(wave[:quarter])

    assert glide("up") > 1.04 and glide("down") < 1 / 1.04
    assert glide("left") == pytest.approx(1.0, abs=0.01) and glide("right") == pytest.approx(1.0, abs=0.01)


def test_the_mix_is_the_sum_of_the_voices_and_stays_in_range():
    clip = make_clip("val", 3)
    wave = soundtrack(clip, np.random.default_rng(1))
    assert wave.dtype == np.float32 and wave.shape == (SAMPLE_RATE,)
    assert 0 < np.abs(wave).max() <= 1.0
    silent = Clip(Scene((), BACKGROUND), ())
    assert not soundtrack(silent, np.random.default_rng(1)).any()


def test_objects_move_along_their_direction():
    clip = one_object(colour="red", direction="right", speed="fast")
    frames = render_clip(clip)
    assert frames.shape == (FRAMES, FRAME_SIZE, FRAME_SIZE, 3) and frames.dtype == np.uint8

    def red_centre(frame: np.ndarray) -> np.ndarray:
        red = (frame[..., 0] > 180) & (frame[..., 1] < 80)
        return np.argwhere(red).mean(axis=0)

    first, last = red_centre(frames[0]), red_centre(frames[-1])
    assert last[1] - first[1] == pytest.approx(0.14 * FRAME_SIZE, abs=1.5)  # moved right by its travel
    assert abs(last[0] - first[0]) < 1.0  # and not up or down


def test_clips_are_deterministic_and_seeded():
    assert np.array_equal(clip_video("test", 5), clip_video("test", 5))
    assert np.array_equal(clip_audio("test", 5), clip_audio("test", 5))
    assert not np.array_equal(clip_video("test", 5, seed=1), clip_video("test", 5))
    assert not np.array_equal(clip_audio("test", 5), clip_audio("test", 6))


def test_splits_draw_from_disjoint_streams():
    clips = {split: [clip_video(split, i) for i in range(30)] for split in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not any(np.array_equal(x, y) for x in clips[a] for y in clips[b])
    sounds = {split: [clip_audio(split, i) for i in range(30)] for split in ("val", "test")}
    assert not any(np.array_equal(x, y) for x in sounds["val"] for y in sounds["test"])


def test_dataset_spec_items_groups_and_metrics():
    data = load_dataset("scenes-av:val")
    assert data.name == "scenes-av:val" and data.count("video") == data.count("audio") == 1000
    assert load_dataset("scenes-av").name == "scenes-av"
    video, audio = data.items["video"][7], data.items["audio"][7]
    assert video.shape == (8, 64, 64, 3) and video.dtype == np.uint8
    assert audio.shape == (16000,) and audio.dtype == np.float32
    assert np.array_equal(data.groups["video"], np.arange(1000))
    assert np.array_equal(data.groups["audio"], data.groups["video"])
    assert "medr" in data.metrics
    with pytest.raises(ValueError, match="unknown scenes-av split 'dev'"):
        load_dataset("scenes-av:dev")
    with pytest.raises(ValueError, match="num_clips"):
        scenes_av_split("val", 0)
    with pytest.raises(IndexError):
        data.items["audio"][1000]
