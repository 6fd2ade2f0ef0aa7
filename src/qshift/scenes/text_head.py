"""The scenes text head: its standardised linear projection, and its refit on the finished image tower.

During joint pretraining the linear text head chases a moving image tower and sees one caption
per image. Once the ViT is final, a short contrastive fit of a fresh head of the same shape, on
the frozen embeddings of clean training renders and several captions per image, places the
captions where the images actually are: +2–4 points val R@1 image-to-text on a frozen ViT
(``research/scenes/text_head.py``; docs/scenes.md), for about a minute on two cores. The
shipped head stays a plain Linear: a larger head fit the same way scores no better.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from qshift.scenes.model import SceneEncoder

#: fixed softmax temperature of the refit (joint training learns about 0.05)
REFIT_TEMPERATURE = 0.03
REFIT_BATCH = 256
REFIT_LR = 1e-3


@torch.inference_mode()
def caption_features(
    encoder: SceneEncoder, texts: Sequence[str], batch_size: int = 512, device: str = "cpu"
) -> torch.Tensor:
    """Pooled MiniLM features (N, 384, on the CPU) of ``texts``, run on ``device`` in sorted batches."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    feats = torch.empty(len(texts), encoder.text.proj.in_features)
    tower = encoder.text.eval().to(device)
    for start in tqdm(range(0, len(texts), batch_size), desc="caption features", unit="batch"):
        idx = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in encoder.prepare_texts([texts[i] for i in idx]).items()}
        feats[torch.from_numpy(idx)] = tower.pool(batch).float().cpu()
    tower.cpu()
    return feats


class StandardisedProjection(nn.Module):
    """The text projection trained on standardised MiniLM features, foldable into a plain Linear.

    Frozen sentence-encoder features of templated captions share a large common component;
    standardising them (training-caption mean and std) makes the linear projection learn fast.
    """

    def __init__(self, proj: nn.Linear, feats: torch.Tensor):
        super().__init__()
        self.proj = proj
        self.register_buffer("mean", feats.mean(dim=0))
        std = feats.std(dim=0)
        # floor: a MiniLM dimension that is nearly constant over templated captions would be
        # amplified ~1e4x, dominate the projection and overflow the fp16 weights
        self.register_buffer("std", std.clamp(min=0.1 * float(std.median())))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.proj((feats - self.mean) / self.std)

    @torch.no_grad()
    def fold(self) -> nn.Linear:
        """Write the standardisation into ``proj`` (same function on raw features) and return it."""
        weight = self.proj.weight / self.std
        self.proj.bias -= weight @ self.mean
        self.proj.weight.copy_(weight)
        return self.proj


def fit_text_head(
    head: nn.Module, feats: torch.Tensor, owner: torch.Tensor, images: torch.Tensor, epochs: int, seed: int
) -> nn.Module:
    """Symmetric InfoNCE between caption features and their images' frozen, normalised embeddings.

    ``owner[j]`` is the image row of caption ``j``; captions of the same image in a batch are
    not each other's negatives (masked out of both softmaxes).
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=REFIT_LR, weight_decay=0.05)
    head.train()
    for _ in range(epochs):
        perm = torch.randperm(len(feats), generator=gen)
        for start in range(0, len(perm), REFIT_BATCH):
            batch = perm[start : start + REFIT_BATCH]
            who = owner[batch]
            logits = images[who] @ F.normalize(head(feats[batch]), dim=-1).T / REFIT_TEMPERATURE
            twins = (who[:, None] == who[None, :]) & ~torch.eye(len(batch), dtype=torch.bool)
            logits = logits.masked_fill(twins, -1e4)
            labels = torch.arange(len(batch))
            loss = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return head.eval()


def refit_text_head(
    encoder: SceneEncoder,
    image_embeddings: torch.Tensor,
    texts: Sequence[str],
    epochs: int,
    seed: int = 0,
    device: str = "cpu",
) -> None:
    """Replace ``encoder.text.proj`` by a fresh head fit to ``image_embeddings`` (N, D, normalised).

    ``texts`` holds the same number of captions for each of the N images, in image order; their
    MiniLM features are computed on ``device``, the head is fit on the CPU.
    """
    n = len(image_embeddings)
    if n < 2 or len(texts) % n:
        raise ValueError(
            f"need >= 2 images and the same number of captions for each, got {len(texts)} for {n}"
        )
    feats = caption_features(encoder, texts, device=device)
    owner = torch.from_numpy(np.repeat(np.arange(n), len(texts) // n))
    proj = encoder.text.proj
    torch.manual_seed(seed)
    head = StandardisedProjection(nn.Linear(proj.in_features, proj.out_features), feats)
    fit_text_head(head, feats, owner, image_embeddings, epochs, seed)
    proj.load_state_dict(head.fold().state_dict())
