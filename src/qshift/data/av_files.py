"""Audio and video items of a dataset, read from disk on demand.

A dataset's audio or video items are a :class:`MediaFiles`: an indexable sequence whose item
``i`` is loaded when asked for (a 1-D float32 waveform, or a (T, H, W, 3) uint8 clip), as the
loaders of :mod:`qshift.utils.media` decode it. Each item is described by a small picklable
record (:class:`AudioFile`, :class:`ClipSound`, :class:`VideoFile`) that knows how to load it,
how to save a corrupted copy of it, and the relative name of that copy: a copy written under
``<folder>/<copy_name>`` loads back through the same dataset spec with ``<folder>`` as the media
root (``qshift shift audio|video``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import numpy as np

from qshift.utils.media import read_audio, read_clip_audio, read_video, write_audio, write_video

#: qshift's audio rate (the audio shifts assume it unless given ``sample_rate=``)
AUDIO_RATE = 16000
#: frames per clip and their side, as benchmark.md prepares real video (short side 256, crop 224)
VIDEO_FRAMES = 8
VIDEO_SIZE = 224
#: frame rate of a written copy: it holds only the sampled frames, so its timing is nominal
COPY_FPS = 8


class MediaItem(Protocol):
    """One audio or video item on disk."""

    @property
    def copy_name(self) -> str:
        """Relative path of a corrupted copy of this item (under a copy folder)."""
        ...

    @property
    def sources(self) -> tuple[Path, ...]:
        """The file(s) the item may be read from (the item exists when one of them does)."""
        ...

    def load(self) -> np.ndarray:
        """The item as the query stream sees it."""
        ...

    def save(self, path: Path, item: np.ndarray) -> None:
        """Write a (corrupted) item to ``path`` (a temporary name: the format follows
        ``copy_name``) so that :meth:`load` of the copy returns it."""
        ...


@dataclass(frozen=True)
class AudioFile:
    """A sound file read as a mono waveform at ``sample_rate`` Hz."""

    path: Path
    copy_name: str
    sample_rate: int = AUDIO_RATE

    @property
    def sources(self) -> tuple[Path, ...]:
        """The file(s) the item may be read from."""
        return (self.path,)

    def load(self) -> np.ndarray:
        return read_audio(self.path, self.sample_rate)

    def save(self, path: Path, item: np.ndarray) -> None:
        """Write at ``sample_rate`` in the format of ``copy_name`` (float WAV: read back exactly)."""
        write_audio(path, item, self.sample_rate, like=self.copy_name)


@dataclass(frozen=True)
class ClipSound:
    """The sound of a clip: ``<stem>.wav`` next to where the clip is looked up, else the clip
    file's own audio stream. Copies are written as ``<stem>.wav``."""

    wav: Path
    clip: Path
    copy_name: str
    sample_rate: int = AUDIO_RATE

    @property
    def sources(self) -> tuple[Path, ...]:
        return (self.wav, self.clip)

    def load(self) -> np.ndarray:
        if self.wav.is_file():
            return read_audio(self.wav, self.sample_rate)
        if not self.clip.is_file():
            raise FileNotFoundError(f"audio not found: neither {self.wav} nor the clip {self.clip} exists")
        return read_clip_audio(self.clip, self.sample_rate)

    def save(self, path: Path, item: np.ndarray) -> None:
        write_audio(path, item, self.sample_rate, like=self.copy_name)


@dataclass(frozen=True)
class VideoFile:
    """A video file read as ``frames`` RGB frames, short side resized and centre ``size`` cropped
    (None: native size), as :func:`qshift.utils.media.read_video` samples them."""

    path: Path
    copy_name: str
    frames: int = VIDEO_FRAMES
    size: int | None = VIDEO_SIZE

    @property
    def sources(self) -> tuple[Path, ...]:
        return (self.path,)

    def load(self) -> np.ndarray:
        return read_video(self.path, self.frames, self.size)

    def save(self, path: Path, item: np.ndarray) -> None:
        """Write the sampled frames losslessly: reading the copy returns them unchanged (every
        frame is sampled once, and ``size × size`` frames are not cropped again)."""
        write_video(path, item, COPY_FPS, like=self.copy_name)


@dataclass
class MediaFiles(Sequence):
    """Lazy audio or video items of a dataset, in dataset order.

    ``listing`` is the annotation file that names them (recorded by exports) and ``prefix`` the
    dataset's name in export folder names (``AudioCaps``, ``MSRVTT``, …).
    """

    modality: str
    files: list[MediaItem]
    listing: Path
    prefix: str
    #: extra options the modality's shifts need to treat these items as loaded (audio: the rate)
    shift_options: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        if not 0 <= index < len(self.files):
            raise IndexError(f"{self.modality} item {index} outside 0..{len(self.files) - 1}")
        return self.files[index].load()

    def subset(self, indices: Sequence[int]) -> MediaFiles:
        """The items at ``indices``, in that order."""
        files = [self.files[i] for i in indices]
        return MediaFiles(self.modality, files, self.listing, self.prefix, dict(self.shift_options))

    def existing(self, skip_missing: bool = False) -> list[int]:
        """Indices of the items whose file exists; FileNotFoundError naming the first missing ones
        unless ``skip_missing``."""
        missing = [i for i, item in enumerate(self.files) if not any(p.is_file() for p in item.sources)]
        if missing and not skip_missing:
            shown = ", ".join(str(self.files[i].sources[-1]) for i in missing[:3])
            raise FileNotFoundError(
                f"{self.listing}: {len(missing)} of {len(self.files)} {self.modality} file(s) not found, "
                f"e.g. {shown} (pass skip_missing=True to leave them out)"
            )
        return sorted(set(range(len(self.files))) - set(missing))


def relative_name(name: str, listing: Path, what: str) -> str:
    """``name`` checked to be a relative path inside its root (no ``..``, not absolute)."""
    parts = PurePosixPath(name.replace("\\", "/"))
    if not name.strip() or parts.is_absolute() or ".." in parts.parts:
        raise ValueError(f"{listing}: {what} {name!r} must be a relative path inside the media root")
    return parts.as_posix()


def audio_files(
    root: Path, names: Sequence[str], listing: Path, prefix: str, sample_rate: int = AUDIO_RATE
) -> MediaFiles:
    """Sound files ``root / name`` read at ``sample_rate``."""
    files = [AudioFile(root / name, name, sample_rate) for name in names]
    return MediaFiles("audio", files, listing, prefix, {"sample_rate": sample_rate})


def video_files(
    root: Path,
    names: Sequence[str],
    listing: Path,
    prefix: str,
    frames: int = VIDEO_FRAMES,
    size: int | None = VIDEO_SIZE,
) -> MediaFiles:
    """Video files ``root / name`` read as ``frames`` frames at ``size``."""
    files = [VideoFile(root / name, name, frames, size) for name in names]
    return MediaFiles("video", files, listing, prefix)


def clip_sounds(
    audio_root: Path, names: Sequence[str], listing: Path, prefix: str, sample_rate: int = AUDIO_RATE
) -> MediaFiles:
    """The sound of each clip ``name``: ``audio_root/<stem>.wav``, else ``audio_root/<name>``'s stream."""
    files = []
    for name in names:
        wav = PurePosixPath(name).with_suffix(".wav").as_posix()
        files.append(ClipSound(audio_root / wav, audio_root / name, wav, sample_rate))
    return MediaFiles("audio", files, listing, prefix, {"sample_rate": sample_rate})
