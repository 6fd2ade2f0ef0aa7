"""Tests of the video shifts (qshift.shifts.video): frame corruptions with one draw per clip, and
the temporal shifts frame_drop, frame_shuffle and freeze."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qshift import registry
from qshift.shifts import names, video
from qshift.shifts.image import corrupt

TEMPORAL = ("frame_drop", "frame_shuffle", "freeze")
#: frame corruptions whose result does not depend on the seed
DETERMINISTIC = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression"}


def moving_clip(frames: int = 4, height: int = 20, width: int = 28, seed: int = 0) -> np.ndarray:
    """Colour blobs drifting one pixel per frame: frames that differ, with texture to corrupt."""
    rng = np.random.default_rng(seed)
    canvas = rng.integers(40, 216, (height // 4 + 1, (width + frames) // 4 + 1, 3), dtype=np.uint8)
    canvas = canvas.repeat(4, axis=0).repeat(4, axis=1)
    return np.stack([canvas[:height, t : t + width] for t in range(frames)])


def numbered_clip(frames: int) -> np.ndarray:
    """Frame ``i`` is filled with the value ``i``: the output's frame order reads off its pixels."""
    return np.broadcast_to(np.arange(frames, dtype=np.uint8)[:, None, None, None], (frames, 2, 3, 3)).copy()


def order_of(clip: np.ndarray) -> list[int]:
    return [int(value) for value in clip[:, 0, 0, 0]]


def test_names_registry_lines_and_callables():
    frame_shifts = [name for name in names("image") if name != "speckle_noise"]
    assert tuple(frame_shifts) + TEMPORAL == video.VIDEO_SHIFTS
    assert tuple(names("video")) == video.VIDEO_SHIFTS and len(video.VIDEO_SHIFTS) == 18
    for name in video.VIDEO_SHIFTS:
        shift = getattr(video, name)
        assert callable(shift) and shift.__name__ == name and shift.__doc__
        assert registry.load("shift", name, modality="video") is shift


@pytest.mark.parametrize("name", video.VIDEO_SHIFTS)
@pytest.mark.parametrize("shape", [(3, 17, 9, 3), (1, 5, 6, 3)])
def test_shape_and_dtype_kept_for_any_clip_size(name, shape):
    clip = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    shifted = getattr(video, name)(clip, 5, seed=2)
    assert shifted.shape == shape and shifted.dtype == np.uint8
    assert shifted is not clip


@pytest.mark.parametrize("name", video.FRAME_SHIFTS)
def test_static_clip_stays_static_one_draw_per_clip(name):
    """Every frame of a still clip gets the same draw, so the corrupted clip is still too."""
    frame = moving_clip(1, 24, 32)[0]
    shifted = getattr(video, name)(np.stack([frame] * 3), 4, seed=11)
    expected = corrupt(name, frame, 4, 11)
    for index in range(3):
        assert np.array_equal(shifted[index], expected)


@pytest.mark.parametrize("name", ["gaussian_noise", "motion_blur", "frost"])
def test_frame_corruption_is_the_image_corruption_with_the_clip_seed(name):
    clip = moving_clip()
    shifted = getattr(video, name)(clip, 3, seed=5)
    for frame, out in zip(clip, shifted, strict=True):
        assert np.array_equal(out, corrupt(name, frame, 3, 5))
    if name not in DETERMINISTIC:
        assert not np.array_equal(shifted, getattr(video, name)(clip, 3, seed=6))


@pytest.mark.parametrize("severity", range(1, 6))
def test_frame_drop_repeats_the_previous_frame(severity):
    for frames in (2, 8, 13):
        order = order_of(video.frame_drop(numbered_clip(frames), severity, seed=3))
        dropped = [i for i in range(frames) if order[i] != i]
        assert len(dropped) == min(frames - 1, math.ceil(severity / 8 * frames))
        assert order[0] == 0
        assert all(order[i] == order[i - 1] for i in dropped)


def test_frame_drop_nests_across_severities():
    orders = [order_of(video.frame_drop(numbered_clip(16), severity, seed=9)) for severity in range(1, 6)]
    dropped = [{i for i, shown in enumerate(order) if shown != i} for order in orders]
    assert all(low < high for low, high in zip(dropped, dropped[1:], strict=False))


@pytest.mark.parametrize("severity", range(1, 6))
def test_frame_shuffle_swaps_neighbours_locally(severity):
    for frames in (2, 8, 13):
        order = order_of(video.frame_shuffle(numbered_clip(frames), severity, seed=4))
        assert sorted(order) == list(range(frames))
        inversions = sum(order[i] > order[j] for i in range(frames) for j in range(i + 1, frames))
        assert inversions == min(frames - 1, math.ceil(severity / 8 * frames))
        assert max(abs(shown - i) for i, shown in enumerate(order)) <= inversions


@pytest.mark.parametrize("severity", range(1, 6))
def test_freeze_holds_one_frame(severity):
    for frames in (2, 8, 13):
        order = order_of(video.freeze(numbered_clip(frames), severity, seed=6))
        held = min(frames - 1, math.ceil(severity / 8 * frames))
        changed = [i for i in range(frames) if order[i] != i]
        assert len(changed) == held
        start = changed[0] - 1
        assert changed == list(range(start + 1, start + held + 1))
        assert all(order[i] == start for i in changed)


@pytest.mark.parametrize("name", TEMPORAL)
def test_temporal_shifts_seeded_and_noop_on_one_frame(name):
    shift = getattr(video, name)
    clip = numbered_clip(16)
    assert np.array_equal(shift(clip, 3, seed=1), shift(clip, 3, seed=1))
    first = order_of(shift(clip, 3, seed=1))
    assert any(order_of(shift(clip, 3, seed=seed)) != first for seed in range(2, 6))
    single = numbered_clip(1)
    assert np.array_equal(shift(single, 5, seed=0), single)


@pytest.mark.parametrize(
    ("clip", "kwargs", "message"),
    [
        (np.zeros((8, 8, 3), np.uint8), {}, r"\(T, H, W, 3\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), {}, r"\(T, H, W, 3\)"),
        (np.zeros((2, 8, 8, 3), np.float32), {}, "uint8"),
        (np.zeros((0, 8, 8, 3), np.uint8), {}, "empty"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"severity": 0}, "severity"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"severity": 6}, "severity"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"fps": 30}, "fps"),
    ],
)
@pytest.mark.parametrize("name", ["gaussian_noise", "freeze"])
def test_invalid_input_raises_naming_the_problem(name, clip, kwargs, message):
    arguments = {"severity": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        getattr(video, name)(clip, **arguments)
