"""Speed of the query shifts: ms per 224×224 image for each image corruption at severity 5,
captions per second for each text perturbation that runs without a model, audio seconds per
second for each audio shift (10 s at 16 kHz) and frames per second for each video shift (8 frames
of 224×224), all at severity 5.

Audio and video speeds come with a ratio to a baseline timed in the same run, so that machines
compare: for audio, a bare white-noise overlay of the clip in numpy (the least an additive shift
does); for the frame corruptions, the same image corruption called on the 8 frames directly (the
ratio is the video layer's overhead); for the temporal shifts, a copy of the clip.

Usage: ``python benchmarks/shifts.py [--repeats N] [--kinds image,text,audio,video] [--out FILE]``.
Prints a markdown table; ``--out`` also writes it to FILE.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from qshift import shifts
from qshift.shifts import audio, image, video

IMAGE_SIZE = 224
IMAGE_SEVERITY = 5
TEXT_SEVERITY = 5
AUDIO_SECONDS, AUDIO_RATE, AUDIO_SEVERITY = 10, 16000, 5
VIDEO_FRAMES, VIDEO_SEVERITY = 8, 5
KINDS = ("image", "text", "audio", "video")
CAPTIONS = [
    "a red circle on the left of a small blue square",
    "two green triangles above a large yellow star on a striped background",
    "a man riding a bicycle down a busy city street next to parked cars",
    "a plate of food with broccoli, rice and grilled chicken on a wooden table",
    "several people standing on a beach watching the sunset over the ocean",
    "a black and white cat sleeping on top of a laptop keyboard",
    "a tall clock tower in the middle of a town square under a cloudy sky",
    "a young girl holding an umbrella while walking through the rain",
]


def benchmark_image(repeats: int) -> list[tuple[str, float]]:
    """(corruption, median ms per 224×224 image at severity 5), one seed per repetition."""
    image = _test_image(IMAGE_SIZE, seed=0)
    rows = []
    for name in shifts.names("image"):
        shifts.apply(name, image, IMAGE_SEVERITY, seed=0)  # warm-up: imports, OpenCV buffers
        times = [
            _seconds(lambda n=name, s=seed: shifts.apply(n, image, IMAGE_SEVERITY, seed=s))
            for seed in range(repeats)
        ]
        rows.append((name, 1000 * statistics.median(times)))
    return rows


def benchmark_text(repeats: int) -> tuple[list[tuple[str, float]], list[str]]:
    """([(perturbation, captions per second)], [notes on what was skipped and why])."""
    try:
        names = shifts.names("text")
    except ImportError as err:
        return [], [f"text shifts skipped: qshift.shifts.text is not importable ({err})"]
    rows, notes = [], []
    for name in names:
        try:
            shifts.apply(name, CAPTIONS[0], TEXT_SEVERITY, seed=0)
        except Exception as err:  # a shift that needs a model or data this machine lacks
            notes.append(f"{name} skipped: {type(err).__name__}: {_first_line(err)}")
            continue

        def one_pass(n: str = name, base: int = 0) -> None:
            for i, caption in enumerate(CAPTIONS):
                shifts.apply(n, caption, TEXT_SEVERITY, seed=base + i)

        times = [_seconds(lambda r=r: one_pass(base=r * len(CAPTIONS))) for r in range(repeats)]
        rows.append((name, len(CAPTIONS) / statistics.median(times)))
    return rows, notes


def benchmark_audio(repeats: int) -> tuple[list[tuple[str, float, float]], float]:
    """([(shift, audio seconds per second, time / baseline)], baseline audio seconds per second)."""
    t = np.arange(AUDIO_SECONDS * AUDIO_RATE) / AUDIO_RATE
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)

    def overlay(seed: int) -> np.ndarray:
        noise = np.random.default_rng(seed).standard_normal(len(wave), dtype=np.float32)
        return np.clip(wave + 0.1 * noise, -1.0, 1.0)

    baseline = _median_seconds(overlay, repeats)
    rows = []
    for name in audio.AUDIO_SHIFTS:
        shift = getattr(audio, name)
        seconds = _median_seconds(lambda seed, s=shift: s(wave, AUDIO_SEVERITY, seed), repeats)
        rows.append((name, AUDIO_SECONDS / seconds, seconds / baseline))
    return rows, AUDIO_SECONDS / baseline


def benchmark_video(repeats: int) -> list[tuple[str, float, float]]:
    """[(shift, frames per second, time / baseline)]; baselines in the module docstring."""
    clip = np.stack([_test_image(IMAGE_SIZE, seed=frame) for frame in range(VIDEO_FRAMES)])
    copy = _median_seconds(lambda seed: clip.copy(), repeats)
    rows = []
    for name in video.VIDEO_SHIFTS:
        shift = getattr(video, name)
        seconds = _median_seconds(lambda seed, s=shift: s(clip, VIDEO_SEVERITY, seed), repeats)
        baseline = copy
        if name in video.FRAME_SHIFTS:
            baseline = _median_seconds(lambda seed, n=name: _each_frame(n, clip, seed), repeats)
        rows.append((name, VIDEO_FRAMES / seconds, seconds / baseline))
    return rows


def _each_frame(name: str, clip: np.ndarray, seed: int) -> list[np.ndarray]:
    """Image corruption ``name`` on every frame, called directly: the frame shifts' baseline."""
    return [image.corrupt(name, frame, VIDEO_SEVERITY, seed) for frame in clip]


def markdown(
    image_rows: list[tuple[str, float]],
    text_rows: list[tuple[str, float]],
    audio_rows: list[tuple[str, float, float]],
    video_rows: list[tuple[str, float, float]],
    notes: list[str],
    repeats: int,
) -> str:
    """The results as a markdown table (one row per shift) plus notes."""
    lines = [
        f"Machine: {_cpu_model()}, {os.cpu_count()} logical CPUs ({platform.machine()}); "
        f"Python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}",
        "",
        "| shift | kind | speed | time / baseline |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | image @{IMAGE_SEVERITY} | {ms:.2f} ms / 224×224 image | |" for name, ms in image_rows
    ]
    lines += [f"| {name} | text @{TEXT_SEVERITY} | {rate:,.0f} captions / s | |" for name, rate in text_rows]
    lines += [
        f"| {name} | audio @{AUDIO_SEVERITY} | {rate:,.0f} audio s / s | {ratio:.1f} |"
        for name, rate, ratio in audio_rows
    ]
    lines += [
        f"| {name} | video @{VIDEO_SEVERITY} | {rate:,.0f} frames / s | {ratio:.2f} |"
        for name, rate, ratio in video_rows
    ]
    lines += ["", f"Median of {repeats} runs (one seed each; text: one pass over {len(CAPTIONS)} captions)."]
    if audio_rows:
        lines += [f"Audio: {AUDIO_SECONDS} s at {AUDIO_RATE} Hz; baseline: a white-noise overlay in numpy."]
    if video_rows:
        lines += [
            f"Video: {VIDEO_FRAMES} frames of {IMAGE_SIZE}×{IMAGE_SIZE}; baseline: the image corruption "
            "on each frame (frame shifts), a copy of the clip (temporal shifts)."
        ]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per shift (default 20)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="kinds to time, comma-separated (all)")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    kinds = args.kinds.split(",")
    if unknown := sorted(set(kinds) - set(KINDS)):
        parser.error(f"--kinds: unknown {', '.join(unknown)}; valid: {', '.join(KINDS)}")
    image_rows = benchmark_image(args.repeats) if "image" in kinds else []
    text_rows, notes = benchmark_text(args.repeats) if "text" in kinds else ([], [])
    audio_rows, video_rows = [], []
    if "audio" in kinds:
        audio_rows, baseline = benchmark_audio(args.repeats)
        notes.append(f"audio baseline: {baseline:,.0f} audio s / s")
    if "video" in kinds:
        video_rows = benchmark_video(args.repeats)
    table = markdown(image_rows, text_rows, audio_rows, video_rows, notes, args.repeats)
    print(table, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")


def _test_image(size: int, seed: int) -> np.ndarray:
    """A textured RGB image: smooth colour blobs plus grain, so every corruption has work to do."""
    rng = np.random.default_rng(seed)
    blobs = cv2.resize(
        rng.random((size // 16, size // 16, 3), dtype=np.float32), (size, size), interpolation=cv2.INTER_CUBIC
    )
    grain = rng.normal(0.0, 0.08, (size, size, 3)).astype(np.float32)
    return np.rint(np.clip(0.1 + 0.6 * blobs + grain, 0, 1) * 255).astype(np.uint8)


def _median_seconds(call: Callable[[int], object], repeats: int) -> float:
    """Median time of ``call(seed)`` over seeds 0 … repeats − 1, after one untimed warm-up."""
    call(repeats)
    return statistics.median(_seconds(lambda seed=seed: call(seed)) for seed in range(repeats))


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _first_line(err: Exception, limit: int = 160) -> str:
    lines = str(err).strip().splitlines()
    if not lines:
        return "(no message)"
    return lines[0] if len(lines[0]) <= limit else lines[0][: limit - 1] + "…"


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
