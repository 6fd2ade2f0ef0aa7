"""Decoding and encoding of audio and video files: mono waveforms and (T, H, W, 3) uint8 clips.

Audio goes through soundfile (libsndfile: WAV, FLAC, OGG, MP3, ...), video and the audio stream
of a video file through PyAV (FFmpeg).
Every error names the file: a missing file raises FileNotFoundError, a file that cannot be
decoded (or holds no audio samples / no video frames) raises ValueError.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from qshift.utils.signals import resample, segment_middles

PathLike = str | os.PathLike[str]

#: FFmpeg muxer of each video suffix that holds H.264
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
#: benchmark.md's preprocessing of real video: short side to 256, centre crop 224 (ratio kept
#: for other crop sizes)
RESIZE_PER_CROP = 256 / 224


# ---------------------------------------------------------------- audio


def read_audio(path: PathLike, sample_rate: int = 16000) -> np.ndarray:
    """The file's audio as a 1-D float32 waveform (full scale ±1) at ``sample_rate`` Hz.

    Channels are mixed down to mono (their mean); another rate is converted with a polyphase
    filter (``scipy.signal.resample_poly``, the ratio reduced to lowest terms).
    """
    path = _existing(path, "audio")
    _check_rate(sample_rate)
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except sf.LibsndfileError as err:
        raise ValueError(f"cannot decode audio file {path}: {err.error_string}") from None
    if data.shape[0] == 0:
        raise ValueError(f"audio file {path} holds no samples")
    return resample(data.mean(axis=1), rate, sample_rate)


def write_audio(path: PathLike, wave: np.ndarray, sample_rate: int, like: PathLike | None = None) -> None:
    """Write a 1-D waveform; float samples where the format holds them (WAV), so a copy reads
    back exactly, else the format's default sample type (e.g. 16-bit FLAC).

    The format follows the suffix of ``like`` (default: of ``path``), so a file can be written
    under a temporary name and moved into place.
    """
    wave = np.asarray(wave)
    if wave.ndim != 1 or wave.size == 0 or not np.issubdtype(wave.dtype, np.floating):
        raise ValueError(f"wave for {path} must be a non-empty 1-D float array, got {wave.dtype}{wave.shape}")
    _check_rate(sample_rate)
    file_format = Path(like or path).suffix.lstrip(".").upper()
    subtype = "FLOAT" if file_format and sf.check_format(file_format, "FLOAT") else None
    try:
        sf.write(path, wave.astype(np.float32), sample_rate, subtype=subtype, format=file_format or None)
    except (sf.LibsndfileError, TypeError, ValueError) as err:
        raise ValueError(f"cannot write audio file {path}: {err}") from None


def read_clip_audio(path: PathLike, sample_rate: int = 16000) -> np.ndarray:
    """The audio stream of a video file (the first one) as :func:`read_audio` returns a sound file:
    a 1-D float32 mono waveform at ``sample_rate`` Hz, channels mixed by their mean."""
    path = _existing(path, "video")
    _check_rate(sample_rate)
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"video file {path} has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.rate
            planar = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
            for frame in container.decode(stream):
                chunks += [out.to_ndarray() for out in planar.resample(frame)]
            chunks += [out.to_ndarray() for out in planar.resample(None)]
    except av.FFmpegError as err:
        raise ValueError(f"cannot decode the audio of video file {path}: {err}") from None
    if not chunks or sum(chunk.shape[1] for chunk in chunks) == 0:
        raise ValueError(f"video file {path} holds no audio samples")
    return resample(np.concatenate(chunks, axis=1).mean(axis=0), rate, sample_rate)


def _check_rate(sample_rate: int) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")


# ---------------------------------------------------------------- video


def read_video(path: PathLike, frames: int = 8, size: int | None = None) -> np.ndarray:
    """``frames`` RGB frames sampled uniformly over the clip, as a (T, H, W, 3) uint8 array.

    Frame ``k`` is the middle frame of the ``k``-th of ``frames`` equal segments (TSN-style
    sampling), so clips shorter than ``frames`` repeat frames. With ``size``, each frame's short
    side is resized to ``round(size · 256/224)`` and the centre ``size × size`` is cropped
    (benchmark.md: 256 / 224 for real data); without it, frames keep their native size. Frames
    that already are ``size × size`` are kept as they are: such a clip was prepared this way
    already (a corrupted copy written by ``qshift shift video``), and cropping it again would
    zoom it by 256/224.
    """
    path = _existing(path, "video")
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"size must be a positive integer or None, got {size!r}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"video file {path} has no video stream")
            count = container.streams.video[0].frames or _count_packets(container)
        picked = _decode_picked(path, _segment_middles(count, frames), size)
        if len(picked) < frames:  # the header over-counted: sample again over the real count
            picked = _decode_picked(path, _segment_middles(_count_decoded(path), frames), size)
    except av.FFmpegError as err:
        raise ValueError(f"cannot decode video file {path}: {err}") from None
    if not picked:
        raise ValueError(f"video file {path} holds no frames")
    return np.stack(picked)


def write_video(
    path: PathLike, clip: np.ndarray, fps: float, lossless: bool = True, like: PathLike | None = None
) -> None:
    """Encode a (T, H, W, 3) uint8 clip as H.264 (the container follows the suffix, e.g. .mp4).

    Lossless (default): RGB H.264 at quantiser 0 (libx264rgb), any frame size, read back
    exactly, so a corrupted copy equals the on-the-fly shift. Lossy: YUV 4:2:0 at CRF 18
    (libx264), a few times smaller and widely playable; it needs an even height and width.
    With ``like``, the container follows that name's suffix (one of :data:`CONTAINERS`) instead
    of ``path``'s, so a file can be written under a temporary name and moved into place.
    """
    if not isinstance(clip, np.ndarray) or clip.ndim != 4 or clip.shape[3] != 3 or clip.dtype != np.uint8:
        shape = getattr(clip, "shape", None)
        raise ValueError(f"clip for {path} must be a (T, H, W, 3) uint8 array, got {shape}")
    if 0 in clip.shape:
        raise ValueError(f"clip for {path} is empty: shape {clip.shape}")
    if not (isinstance(fps, (int, float, Fraction)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    height, width = clip.shape[1:3]
    if not lossless and (height % 2 or width % 2):
        raise ValueError(f"lossy H.264 for {path} needs an even height and width, got {height}×{width}")
    muxer = None
    if like is not None:
        muxer = CONTAINERS.get(Path(like).suffix.lower())
        if muxer is None:
            raise ValueError(f"cannot write video as {Path(like).name}: suffixes {', '.join(CONTAINERS)}")
    if lossless:
        codec, pixels, options = "libx264rgb", "rgb24", {"qp": "0"}
    else:
        codec, pixels, options = "libx264", "yuv420p", {"crf": "18"}
    try:
        with av.open(os.fspath(path), mode="w", format=muxer) as container:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.height, stream.width, stream.pix_fmt, stream.options = height, width, pixels, options
            for frame in clip:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
    except (av.FFmpegError, OSError) as err:
        raise ValueError(f"cannot write video file {path}: {err}") from None


def _segment_middles(count: int, frames: int) -> list[int]:
    """Index of the middle frame of each of ``frames`` equal segments of ``count`` frames (none
    for an empty count)."""
    return segment_middles(count, frames) if count > 0 else []


def _decode_picked(path: Path, indices: list[int], size: int | None) -> list[np.ndarray]:
    """RGB pixels of the frames at ``indices`` (sorted, repeats allowed); fewer if the clip ends early."""
    picked: list[np.ndarray] = []
    if not indices or indices[0] < 0:
        return picked
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == indices[len(picked)]:
                pixels = _resize_crop(frame, size)
                while len(picked) < len(indices) and indices[len(picked)] == index:
                    picked.append(pixels)
            if len(picked) == len(indices):
                break
    return picked


def _count_packets(container: av.container.InputContainer) -> int:
    """Frames of the first video stream, counted from its packets (containers without a count)."""
    stream = container.streams.video[0]
    return sum(1 for packet in container.demux(stream) if packet.size)


def _count_decoded(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _resize_crop(frame: av.VideoFrame, size: int | None) -> np.ndarray:
    """RGB pixels of ``frame``; with ``size``, short side resized and centre square cropped."""
    if size is None or frame.width == frame.height == size:
        return frame.to_ndarray(format="rgb24")
    scale = round(size * RESIZE_PER_CROP) / min(frame.width, frame.height)
    width, height = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
    pixels = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(pixels[top : top + size, left : left + size])


def _existing(path: PathLike, kind: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file not found: {path}")
    return path
