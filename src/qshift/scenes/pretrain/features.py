"""Fixed inputs of pretraining: the training captions, MiniLM features of their hard negatives,
and clean image embeddings for the text-head refit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from qshift.scenes.generator import Scene
from qshift.scenes.model import SceneEncoder
from qshift.scenes.negatives import hard_negative_caption
from qshift.scenes.pretrain.config import TrainConfig
from qshift.scenes.pretrain.stream import training_batch
from qshift.scenes.text_head import caption_features


def training_slots(cfg: TrainConfig) -> np.ndarray:
    """(train_images, captions_per_image) seeded picks among each image's 5 captions."""
    rng = np.random.default_rng([cfg.seed, 101])
    return np.stack(
        [rng.choice(5, size=cfg.captions_per_image, replace=False) for _ in range(cfg.train_images)]
    )


def negative_features(
    encoder: SceneEncoder, scenes: Sequence[Scene], slots: np.ndarray, cfg: TrainConfig, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """MiniLM features (N, k, K, 384) of K hard-negative captions per training caption, and a found-mask."""
    texts, found = [], []
    variants = range(cfg.negatives_per_caption)
    for i, row in enumerate(tqdm(slots, desc="hard negatives", unit="image")):
        for slot in row:
            for variant in variants:
                caption = hard_negative_caption(scenes[i], "train", i, int(slot), cfg.seed, variant=variant)
                found.append(caption is not None)
                texts.append(caption if caption is not None else "")
    shape = (*slots.shape, len(variants))
    feats = caption_features(encoder, texts, device=device).view(*shape, -1)
    return feats, torch.tensor(found).view(*shape)


@torch.inference_mode()
def clean_image_embeddings(
    encoder: SceneEncoder,
    scenes: Sequence[Scene],
    render_size: int,
    device: str = "cpu",
    progress: bool = True,
    batch_size: int = 256,
) -> torch.Tensor:
    """(N, D) normalised embeddings of clean ``render_size``-px renders of ``scenes``: the refit targets."""
    vision = encoder.vision.to(device).eval()
    size = encoder.vit_config.image_size
    out = []
    for start in tqdm(
        range(0, len(scenes), batch_size), desc="refit: images", unit="batch", disable=not progress
    ):
        batch = scenes[start : start + batch_size]
        images = training_batch(batch, size, [0] * len(batch), augment=False, render_size=render_size)
        out.append(F.normalize(vision(images.to(device)).float(), dim=-1).cpu())
    return torch.cat(out)
