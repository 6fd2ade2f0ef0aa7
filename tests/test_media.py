"""Tests of audio and video decoding (qshift.utils.media) on tiny files written by the tests."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from qshift.shifts import audio
from qshift.utils import media


def tone(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def peak_hz(wave: np.ndarray, rate: int) -> float:
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[np.argmax(np.abs(np.fft.rfft(wave)))])


def numbered_clip(frames: int, height: int = 12, width: int = 18) -> np.ndarray:
    """Frame ``i`` is a flat grey of value 20·i with a bright square at column i: distinct frames."""
    clip = np.zeros((frames, height, width, 3), np.uint8)
    clip[:] = (20 * np.arange(frames, dtype=np.uint8))[:, None, None, None]
    for index in range(frames):
        clip[index, 2:6, index : index + 4] = 250
    return clip


def frame_index(frame: np.ndarray) -> int:
    return round(float(np.median(frame)) / 20)


# ---------------------------------------------------------------- audio


def test_wav_round_trip_is_exact(tmp_path):
    wave = tone(440, 0.3, 16000)
    media.write_audio(tmp_path / "a.wav", wave, 16000)
    assert sf.info(str(tmp_path / "a.wav")).subtype == "FLOAT"
    back = media.read_audio(tmp_path / "a.wav", 16000)
    assert back.dtype == np.float32 and np.array_equal(back, wave)


def test_shifted_copy_reads_back_as_the_on_the_fly_shift(tmp_path):
    shifted = audio.crowd(tone(300, 0.2, 16000), 4, seed=3)
    media.write_audio(tmp_path / "crowd.wav", shifted, 16000)
    assert np.array_equal(media.read_audio(tmp_path / "crowd.wav"), shifted)


def test_flac_round_trip_at_16_bit(tmp_path):
    wave = tone(440, 0.3, 22050)
    media.write_audio(tmp_path / "a.flac", wave, 22050)
    np.testing.assert_allclose(media.read_audio(tmp_path / "a.flac", 22050), wave, atol=1 / 2**15)


def test_stereo_is_mixed_down_and_rate_converted(tmp_path):
    left, right = tone(1000, 0.5, 8000, 0.4), tone(1000, 0.5, 8000, 0.2)
    sf.write(str(tmp_path / "stereo.wav"), np.stack([left, right], axis=1), 8000)
    for rate in (16000, 44100, 8000):
        wave = media.read_audio(tmp_path / "stereo.wav", rate)
        assert wave.dtype == np.float32 and wave.shape == (rate // 2,)
        assert peak_hz(wave, rate) == pytest.approx(1000, abs=5)
        middle = wave[rate // 10 : -rate // 10]
        assert np.abs(middle).max() == pytest.approx(0.3, abs=0.01)


def test_audio_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        media.read_audio(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a sound file at all")
    with pytest.raises(ValueError, match="junk.wav"):
        media.read_audio(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="b.wav"):
        media.write_audio(tmp_path / "b.wav", np.zeros((10, 2, 2), np.float32), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        media.read_audio(tmp_path / "junk.wav", 0)


# ---------------------------------------------------------------- video


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_lossless_video_round_trip_any_size(tmp_path, suffix):
    clip = np.random.default_rng(0).integers(0, 256, (5, 9, 13, 3), dtype=np.uint8)
    media.write_video(tmp_path / f"c.{suffix}", clip, fps=10)
    back = media.read_video(tmp_path / f"c.{suffix}", frames=5)
    assert back.dtype == np.uint8 and np.array_equal(back, clip)


def test_lossy_video_is_close_and_needs_even_sizes(tmp_path):
    clip = numbered_clip(4, 16, 24)
    media.write_video(tmp_path / "c.mp4", clip, fps=25, lossless=False)
    back = media.read_video(tmp_path / "c.mp4", frames=4)
    assert back.shape == clip.shape
    assert np.abs(back.astype(int) - clip.astype(int)).mean() < 6
    with pytest.raises(ValueError, match="even"):
        media.write_video(tmp_path / "odd.mp4", numbered_clip(2, 15, 24), fps=25, lossless=False)


def test_frames_sampled_uniformly_over_the_clip(tmp_path):
    media.write_video(tmp_path / "c.mp4", numbered_clip(12), fps=12)
    assert [frame_index(f) for f in media.read_video(tmp_path / "c.mp4", frames=4)] == [1, 4, 7, 10]
    assert [frame_index(f) for f in media.read_video(tmp_path / "c.mp4", frames=1)] == [6]
    short = [frame_index(f) for f in media.read_video(tmp_path / "c.mp4", frames=24)]
    assert short == [i // 2 for i in range(24)]  # fewer frames than asked: each repeats


def test_frame_count_from_packets_and_after_an_over_count(tmp_path, monkeypatch):
    """Matroska stores no frame count (packets are counted); a wrong count is corrected."""
    media.write_video(tmp_path / "c.mkv", numbered_clip(8), fps=8)
    assert [frame_index(f) for f in media.read_video(tmp_path / "c.mkv", frames=4)] == [1, 3, 5, 7]
    monkeypatch.setattr(media, "_count_packets", lambda container: 20)
    assert [frame_index(f) for f in media.read_video(tmp_path / "c.mkv", frames=4)] == [1, 3, 5, 7]


def test_resize_short_side_and_centre_crop(tmp_path):
    """size=16 on 30×60 frames: short side to round(16 · 256/224) = 18 (scale 0.6), so 18×36,
    then the centre 16×16 (rows 1–16, columns 10–25). Red holds 4 × the source column, green
    4 × the source row, so each output pixel says where it came from."""
    rows, cols = np.mgrid[0:30, 0:60]
    frame = np.stack([4 * cols, 4 * rows, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    media.write_video(tmp_path / "c.mp4", np.stack([frame, frame]), fps=5)
    frames = media.read_video(tmp_path / "c.mp4", frames=2, size=16)
    assert frames.shape == (2, 16, 16, 3)

    def source(first: int) -> np.ndarray:  # centres of 16 resized pixels, in source pixels
        return (first + np.arange(16) + 0.5) / 0.6 - 0.5

    np.testing.assert_allclose(frames[0, 8, :, 0], 4 * source(10), atol=2)
    np.testing.assert_allclose(frames[0, :, 8, 1], 4 * source(1), atol=2)
    assert media.read_video(tmp_path / "c.mp4", frames=1, size=224).shape == (1, 224, 224, 3)


def test_video_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        media.read_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video file at all")
    with pytest.raises(ValueError, match="junk.mp4"):
        media.read_video(tmp_path / "junk.mp4")
    media.write_audio(tmp_path / "sound.wav", tone(440, 0.1, 16000), 16000)
    with pytest.raises(ValueError, match="sound.wav.*no video stream"):
        media.read_video(tmp_path / "sound.wav")
    with pytest.raises(ValueError, match="frames"):
        media.read_video(tmp_path / "sound.wav", frames=0)
    with pytest.raises(ValueError, match="out.mp4"):
        media.write_video(tmp_path / "out.mp4", np.zeros((2, 8, 8), np.uint8), fps=5)
    with pytest.raises(ValueError, match="fps"):
        media.write_video(tmp_path / "out.mp4", numbered_clip(2), fps=0)
