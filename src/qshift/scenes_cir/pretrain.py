"""``qshift pretrain scenes-cir``: train the Combiner of the scenes-cir model on the CPU.

The towers stay frozen (the shipped scenes ViT and MiniLM), so every feature is computed once:
the ViT features of the training families' images (224-px renders, as the benchmark shows them)
and MiniLM's pooled features of several base-style wordings per training query. The Combiner
then trains on those for many epochs in seconds each. A batch holds whole families, so every
query meets its five siblings (one or two edits away from the same reference) among the
candidates; the loss is the InfoNCE of each combined feature against the batch's target
images at a fixed temperature (CLIP4Cir's logit scale 100), with every candidate of the
target's description counted as a positive. Deterministic from the seed for a given number
of torch threads (recorded in the JSON).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from qshift.data.base import GeneratedImages, RetrievalDataset
from qshift.data.scenes import render_scene
from qshift.encoders.scenes import DEFAULT_WEIGHTS, SceneEncoder, load_scenes_encoder
from qshift.errors import ParameterError
from qshift.scenes_cir.dataset import FAMILY_SIZE, build_families, gallery_scenes, load_scenes_cir
from qshift.scenes_cir.edits import describe
from qshift.scenes_cir.model import Combiner, combiner_state, file_sha256
from qshift.scenes_cir.triplets import wording


@dataclass(frozen=True)
class CIRTrainConfig:
    """The recipe (docs/scenes-cir.md has the val readings behind each default)."""

    seed: int = 0
    families: int = 2000
    texts_per_query: int = 2
    epochs: int = 40
    batch_families: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: float = 0.05
    temperature: float = 0.01
    dropout: float = 0.5
    proj: int = 512
    hidden: int = 1024
    feature_batch: int = 256

    def __post_init__(self) -> None:
        for name in (
            "families",
            "texts_per_query",
            "epochs",
            "batch_families",
            "feature_batch",
            "proj",
            "hidden",
        ):
            if getattr(self, name) < 1:
                raise ParameterError(name, f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ParameterError("dropout", f"dropout must lie in [0, 1), got {self.dropout}")
        if not self.lr > 0:
            raise ParameterError("lr", f"lr must be > 0, got {self.lr}")


@torch.no_grad()
def image_features(scenes: SceneEncoder, images: Sequence[np.ndarray], batch: int = 256) -> torch.Tensor:
    """The ViT's (N, d) features of raw images (unnormalised, as the Combiner takes them)."""
    out = [
        scenes.vision(scenes.prepare_images([images[i] for i in range(s, min(s + batch, len(images)))]))
        for s in range(0, len(images), batch)
    ]
    return torch.cat(out).float()


@torch.no_grad()
def text_features(scenes: SceneEncoder, texts: Sequence[str], batch: int = 256) -> torch.Tensor:
    """MiniLM's (N, 384) mean-pooled features of modification texts."""
    out = [
        scenes.text.pool(scenes.prepare_texts(list(texts[s : s + batch])))
        for s in range(0, len(texts), batch)
    ]
    return torch.cat(out).float()


@dataclass
class TripletFeatures:
    """Cached features of a set of families: images, per-query wordings and relevance."""

    images: torch.Tensor  # (num_images, d)
    texts: torch.Tensor  # (num_queries, wordings, text_dim)
    references: torch.Tensor  # (num_queries,) image index
    targets: torch.Tensor  # (num_queries,) image index
    descriptions: torch.Tensor  # (num_images,) description id
    families: torch.Tensor  # (num_queries,) family index


def training_features(scenes: SceneEncoder, config: CIRTrainConfig, split: str = "train") -> TripletFeatures:
    """Features of ``config.families`` families of ``split`` with ``texts_per_query`` wordings each."""
    made = build_families(split, config.families, config.seed)
    scenes_list = gallery_scenes(made)
    ids: dict[Any, int] = {}
    descriptions = torch.tensor([ids.setdefault(describe(s), len(ids)) for s in scenes_list])
    renders = GeneratedImages(len(scenes_list), lambda i: render_scene(scenes_list[i]))

    texts, refs, targets, fams = [], [], [], []
    for f, fam in enumerate(made):
        for q, query in enumerate(fam.queries):
            texts += [
                wording(fam.reference, query.edits, "base", split, f, q, config.seed, v)
                for v in range(config.texts_per_query)
            ]
            refs.append(f * FAMILY_SIZE)
            targets.append(f * FAMILY_SIZE + 1 + query.target)
            fams.append(f)
    pooled = text_features(scenes, texts, config.feature_batch)
    return TripletFeatures(
        images=image_features(scenes, renders, config.feature_batch),
        texts=pooled.view(len(refs), config.texts_per_query, -1),
        references=torch.tensor(refs),
        targets=torch.tensor(targets),
        descriptions=descriptions,
        families=torch.tensor(fams),
    )


def _lr_at(step: int, total: int, config: CIRTrainConfig) -> float:
    """Linear warm-up, then cosine decay to zero."""
    warm = max(1, int(config.warmup * total))
    if step < warm:
        return config.lr * (step + 1) / warm
    return config.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def train_combiner(
    features: TripletFeatures, config: CIRTrainConfig, init_text: torch.nn.Linear | None = None
) -> tuple[Combiner, dict[str, Any]]:
    """Train a Combiner on cached features; returns it and the run's record (steps, loss)."""
    torch.manual_seed(config.seed)
    combiner = Combiner(features.images.shape[1], features.texts.shape[2], config.proj, config.hidden)
    if init_text is not None:
        combiner.text_in.load_state_dict(init_text.state_dict())
    optimizer = torch.optim.AdamW(combiner.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    num_families = int(features.families.max()) + 1
    by_family = [torch.nonzero(features.families == f).flatten() for f in range(num_families)]
    gallery = F.normalize(features.images, dim=-1)
    per_epoch = math.ceil(num_families / config.batch_families)
    total, step, losses = config.epochs * per_epoch, 0, []
    combiner.train()
    for _ in range(config.epochs):
        order = torch.randperm(num_families, generator=generator)
        for start in range(0, num_families, config.batch_families):
            chosen = order[start : start + config.batch_families]
            queries = torch.cat([by_family[int(f)] for f in chosen])
            candidates = torch.cat(
                [torch.arange(f * FAMILY_SIZE + 1, (f + 1) * FAMILY_SIZE) for f in chosen.tolist()]
            )
            pick = torch.randint(features.texts.shape[1], (len(queries),), generator=generator)
            text = features.texts[queries, pick]
            out = F.normalize(
                combiner(features.images[features.references[queries]], text, config.dropout), dim=-1
            )
            logits = out @ gallery[candidates].T / config.temperature
            positive = (
                features.descriptions[candidates][None, :]
                == features.descriptions[features.targets[queries]][:, None]
            )
            loss = (
                torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~positive, -1e4), 1)
            ).mean()
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, total, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
            if not math.isfinite(losses[-1]):
                raise FloatingPointError(f"scenes-cir training diverged at step {step} (loss {losses[-1]})")
    combiner.eval()
    return combiner, {"steps_run": step, "final_loss": float(np.mean(losses[-per_epoch:]))}


@torch.no_grad()
def recall_on(
    combiner: Combiner, scenes: SceneEncoder, dataset: RetrievalDataset, ks: Sequence[int] = (1, 5, 10, 50)
) -> dict[str, float]:
    """Clean R@K (percent) of composed queries over the dataset's gallery, each reference excluded.

    A quick whole-split check for pretraining; benchmark numbers come from ``qshift.evaluate``.
    """
    gallery = F.normalize(image_features(scenes, dataset.items["image"]), dim=-1)
    items = dataset.items["image+text"]
    references = torch.tensor([int(e[0]) for e in dataset.excluded["cir"]])
    texts = text_features(scenes, [items[i].text for i in range(len(items))])
    query = F.normalize(combiner(gallery[references], texts), dim=-1)  # the Combiner normalises its inputs
    scores = query @ gallery.T
    scores[torch.arange(len(references)), references] = -math.inf
    ranks = []
    for row, relevant in enumerate(dataset.groups["image+text"]):
        best = scores[row, torch.as_tensor(relevant)].max()
        ranks.append(int((scores[row] > best).sum()))
    found = torch.tensor(ranks)
    return {f"r{k}": 100.0 * float((found < k).double().mean()) for k in ks}


def pretrain_scenes_cir(out: str | Path, config: CIRTrainConfig | None = None, evaluate: bool = True) -> Path:
    """Train the Combiner and write ``out/scenes_cir.safetensors`` (fp16) and its JSON; returns the path.

    The JSON records the recipe, the scenes weights' hash (the frozen towers), the minutes spent,
    the torch threads and, with ``evaluate``, the clean val R@K.
    """
    config = config or CIRTrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    scenes = load_scenes_encoder()
    features = training_features(scenes, config)
    feature_minutes = (time.perf_counter() - start) / 60
    combiner, record = train_combiner(features, config, init_text=scenes.text.proj)
    record.update(
        feature_minutes=feature_minutes,
        minutes_run=(time.perf_counter() - start) / 60,
        torch_threads=torch.get_num_threads(),
    )
    if evaluate:
        record["val"] = recall_on(combiner, scenes, load_scenes_cir("val", config.seed))
    weights = out / "scenes_cir.safetensors"
    save_file(combiner_state(combiner), str(weights))
    meta = {
        "combiner": combiner.config,
        "image_tower": "the shipped scenes ViT (frozen)",
        "text_tower": "all-MiniLM-L6-v2, mean pooled (frozen)",
        "scenes_weights_sha256": file_sha256(DEFAULT_WEIGHTS),
        "train": {**asdict(config), **record},
    }
    weights.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return weights
