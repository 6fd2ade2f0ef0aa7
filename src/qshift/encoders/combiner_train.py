"""Training a :class:`~qshift.encoders.composed.Combiner` on CIR triplets: ``qshift pretrain combiner``.

CLIP4Cir's second stage (Baldrati et al.): the backbone stays frozen and only the combiner
learns, with a batch-wise cross-entropy between the composed query features and the batch's
target image features, both normalised, at logit scale 100; Adam at 2e-5; projection 4× and
hidden 8× the feature width (their RN50x4 setting: 2560 and 5120 on 640-d features). They
trained 300 epochs at batch 4096. With a frozen backbone and no augmentation (their combiner
stage has none) each triplet's features never change, so qshift embeds every reference,
modification text and target once and trains on those features.

The dataset is any ``cir`` :class:`~qshift.data.base.RetrievalDataset` (read through its
``items`` and ``groups``): query ``i`` is the triplet (its reference, its text, the first gallery
image of its first group).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from qshift.encoders.base import RetrievalModel, move_batch
from qshift.encoders.composed import COMPOSED, Combiner, save_combiner
from qshift.errors import ParameterError

#: CLIP4Cir's fixed logit scale of the combiner loss
LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class CombinerTraining:
    """Hyper-parameters of combiner training (CLIP4Cir's combiner stage by default)."""

    epochs: int = 300
    batch_size: int = 4096
    lr: float = 2e-5
    #: None: 4 × the feature width
    projection_dim: int | None = None
    #: None: 8 × the feature width
    hidden_dim: int | None = None
    dropout: float = 0.5
    seed: int = 0

    def check(self) -> None:
        """:class:`~qshift.errors.ParameterError` naming the first bad hyper-parameter."""
        for field in ("epochs", "batch_size"):
            if getattr(self, field) < 1:
                raise ParameterError(field, f"{field} must be >= 1, got {getattr(self, field)}")
        if not self.lr > 0:
            raise ParameterError("lr", f"lr must be > 0, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise ParameterError("dropout", f"dropout must lie in [0, 1), got {self.dropout}")
        if self.seed < 0:
            raise ParameterError("seed", f"seed must be >= 0, got {self.seed}")


def target_indices(dataset: Any) -> np.ndarray:
    """Each query's target: the first gallery image of its first group; ValueError when none."""
    gallery = np.asarray(dataset.groups["image"])
    first_of: dict[int, int] = {}
    for index, group in enumerate(gallery.tolist()):
        first_of.setdefault(int(group), index)
    targets = []
    for query, groups in enumerate(dataset.groups[COMPOSED]):
        group = int(np.atleast_1d(np.asarray(groups))[0])
        if group not in first_of:
            raise ValueError(f"dataset {dataset.name!r}: query {query} has no target image in the gallery")
        targets.append(first_of[group])
    return np.asarray(targets, dtype=np.int64)


@torch.no_grad()
def triplet_features(
    encoder: RetrievalModel, dataset: Any, batch_size: int = 256, workers: int = 4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frozen (reference image, modification text, target image) features of every query.

    Image and text features are the towers' raw outputs (the combiner normalises its inputs);
    target features are normalised. Each query is loaded once.
    """
    queries, gallery = dataset.items[COMPOSED], dataset.items["image"]
    image_tower, text_tower = encoder.tower("image"), encoder.tower("text")
    modes = image_tower.training, text_tower.training
    image_tower.eval()
    text_tower.eval()
    images, texts = [], []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for start in range(0, len(queries), batch_size):
            chunk = list(pool.map(queries.__getitem__, range(start, min(start + batch_size, len(queries)))))
            for tower, modality, part, out in (
                (image_tower, "image", 0, images),
                (text_tower, "text", 1, texts),
            ):
                batch = move_batch(encoder.prepare(modality, [item[part] for item in chunk]), encoder.device)
                out.append(tower(batch).float().cpu())
    image_tower.train(modes[0])
    text_tower.train(modes[1])
    targets = target_indices(dataset)
    unique, position = np.unique(targets, return_inverse=True)
    gallery_part = (
        [gallery[int(i)] for i in unique] if isinstance(gallery, list) else _Picked(gallery, unique)
    )
    target_features = encoder.embed("image", gallery_part, batch_size, workers)[torch.from_numpy(position)]
    return torch.cat(images), torch.cat(texts), target_features


class _Picked:
    """The items of ``source`` at ``indices`` (read on access)."""

    def __init__(self, source: Any, indices: np.ndarray):
        self.source, self.indices = source, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.source[int(self.indices[index])]


def fit_combiner(
    images: torch.Tensor, texts: torch.Tensor, targets: torch.Tensor, config: CombinerTraining
) -> tuple[Combiner, list[float]]:
    """Train a fresh combiner on the triplet features; returns it (eval mode) and the epoch losses.

    Initialisation, batch order and dropout all draw from ``config.seed`` (the global RNG state
    is restored afterwards).
    """
    config.check()
    if not len(images) == len(texts) == len(targets):
        raise ValueError("triplet features must have one row per query")
    device = images.device
    targets = F.normalize(targets.float(), dim=-1)
    losses = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        combiner = Combiner(images.shape[1], config.projection_dim, config.hidden_dim, config.dropout)
        combiner.to(device).train()
        optimizer = torch.optim.Adam(combiner.parameters(), lr=config.lr)
        for _ in range(config.epochs):
            order = torch.randperm(len(images)).to(device)
            total = 0.0
            for start in range(0, len(order), config.batch_size):
                rows = order[start : start + config.batch_size]
                predicted = F.normalize(combiner(images[rows], texts[rows]), dim=-1)
                logits = LOGIT_SCALE * predicted @ targets[rows].T
                loss = F.cross_entropy(logits, torch.arange(len(rows), device=device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(rows)
            losses.append(total / len(order))
    return combiner.eval(), losses


def portable_spec(spec: str) -> str:
    """``spec`` with a local model directory made absolute, so the checkpoint loads from anywhere."""
    kind, _, source = spec.partition(":")
    if source and Path(source).expanduser().is_dir():
        return f"{kind}:{Path(source).expanduser().resolve()}"
    return spec


def train_combiner(
    encoder: RetrievalModel,
    base: str,
    dataset: Any,
    weights: str | Path,
    config: CombinerTraining = CombinerTraining(),
    workers: int = 4,
) -> tuple[Path, list[float]]:
    """Train a combiner for ``encoder`` (loaded from spec ``base``) on ``dataset``'s triplets.

    Writes ``weights`` and its JSON sidecar (base model, widths, training settings and losses);
    returns the weights path and the epoch losses.
    """
    config.check()
    images, texts, targets = (
        t.to(encoder.device) for t in triplet_features(encoder, dataset, workers=workers)
    )
    combiner, losses = fit_combiner(images, texts, targets, config)
    training = {**asdict(config), "dataset": dataset.name, "triplets": len(images), "losses": losses}
    return save_combiner(combiner, weights, portable_spec(base), training), losses
