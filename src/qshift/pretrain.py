"""``qshift pretrain scenes``: train the embedded benchmark's source model on the CPU.

Recipe: symmetric InfoNCE (CLIP loss) with a learnable temperature between the ViT image tower
and the frozen all-MiniLM-L6-v2 text tower plus a trained projection. MiniLM is frozen, so its
pooled caption features are computed once before training. Each step renders fresh training
scenes at the raw 224 px and gives them the photometric and geometric variety of real photos
(lighting, haze, contrast/brightness/saturation/gamma, colour casts, blur, sensor noise, low
resolution, JPEG, small affine jitter): our own augmentations, never the benchmark's
corruption functions. AdamW, linear warm-up then cosine decay; every random draw is seeded.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from qshift.data.base import RetrievalDataset
from qshift.data.scene_negatives import MAX_NEGATIVE_VARIANTS, hard_negative_caption
from qshift.data.scenes import (
    COLOURS,
    RAW_SIZE,
    SHAPES,
    SIZES,
    SPLIT_SIZES,
    Scene,
    generate_scenes,
    render_scene,
    scenes_split,
)
from qshift.encoders.scenes import (
    MAX_TEXT_TOKENS,
    SceneEncoder,
    config_path,
    normalise_images,
    resize_images,
)
from qshift.encoders.vit import ViTConfig
from qshift.metrics import top1_both_ways
from qshift.text_head import StandardisedProjection, caption_features, refit_text_head

WEIGHTS_NAME = "scenes_source.safetensors"
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one pretraining run (stored in the JSON next to the weights)."""

    seed: int = 0
    steps: int = 1250
    minutes: float | None = None
    batch_size: int = 128
    train_images: int = SPLIT_SIZES["train"]
    captions_per_image: int = 1
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: float = 0.05
    temperature: float = 0.07
    augment: bool = True
    workers: int = 1
    dense_weight: float = 1.0
    hard_negatives: bool = True
    negatives_per_caption: int = 1
    clean_fraction: float = 0.3
    specks: float = 0.0
    specks_from: int = 0
    grad_clip: float = 0.0
    precision: str = "bf16"
    render_size: int = 128
    refit_images: int = 6000
    refit_captions: int = 2
    refit_epochs: int = 30


# ----------------------------------------------------------------------------- augmentation
def _smooth_field(rng: np.random.Generator, size: int, cells: int = 4) -> np.ndarray:
    """A smooth random field in about [0, 1]: bicubic upsampling of a coarse uniform grid."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)[..., None]


def _affine(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small rotation, scale and shift (the caption's grid cells stay true)."""
    s = x.shape[0]
    m = cv2.getRotationMatrix2D((s / 2, s / 2), rng.uniform(-6, 6), rng.uniform(0.92, 1.08))
    m[:, 2] += rng.uniform(-0.03, 0.03, size=2) * s
    return cv2.warpAffine(x, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _lighting(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven illumination and haze: a smooth gain field, then a smooth veil of light."""
    s = x.shape[0]
    if rng.random() < 0.4:
        x = x * (1 + rng.uniform(0.1, 0.4) * (2 * _smooth_field(rng, s) - 1))
    if rng.random() < 0.3:
        veil = rng.uniform(0.1, 0.45) * (0.4 + 0.6 * _smooth_field(rng, s))
        tone = rng.uniform(0.45, 1.0) * rng.uniform(0.92, 1.08, size=3).astype(np.float32)
        x = x * (1 - veil) + veil * tone
    return x


def _colour(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast, brightness, saturation, gamma and a colour cast, each with its own chance."""
    if rng.random() < 0.5:
        x = x.mean() + math.exp(rng.uniform(math.log(0.4), math.log(1.25))) * (x - x.mean())
    if rng.random() < 0.4:
        x = x + rng.uniform(-0.15, 0.15)
    if rng.random() < 0.3:
        grey = x.mean(axis=2, keepdims=True)
        x = grey + rng.uniform(0.5, 1.3) * (x - grey)
    if rng.random() < 0.3:
        x = np.clip(x, 0.0, 1.0) ** rng.uniform(0.75, 1.35)
    if rng.random() < 0.3:
        x = x * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    return x


def _degrade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mild camera degradations: defocus, low resolution and sensor noise."""
    s = x.shape[0]
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 0.8) * s / 64)
    if rng.random() < 0.1:
        small = max(8, round(s * rng.uniform(0.6, 0.85)))
        x = cv2.resize(cv2.resize(x, (small, small), interpolation=cv2.INTER_AREA), (s, s))
    if rng.random() < 0.3:
        sigma = math.exp(rng.uniform(math.log(0.01), math.log(0.08)))
        x = x + rng.normal(0.0, sigma, size=x.shape).astype(np.float32)
    return x


def _specks(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dirt or droplets on the lens: many small light (or dark) dots and short streaks, half-opaque.

    The streaks share one direction (wind, motion), and each image gets one tone, so the layer
    reads as one occluding texture over the scene rather than as scene content.
    """
    s = x.shape[0]
    mask = np.zeros((s, s), dtype=np.float32)
    angle = rng.uniform(0, math.pi)
    for _ in range(int(rng.integers(s // 2, 4 * s))):
        x0, y0 = rng.uniform(0, s, size=2)
        length = rng.uniform(0, 0.08 * s)
        tilt = angle + rng.normal(0, 0.2)
        x1, y1 = x0 + length * math.cos(tilt), y0 + length * math.sin(tilt)
        p0, p1 = (round(x0 * 16), round(y0 * 16)), (round(x1 * 16), round(y1 * 16))
        cv2.line(mask, p0, p1, 1.0, int(rng.integers(1, 3)), cv2.LINE_AA, shift=4)
    tone = rng.uniform(0.8, 1.0) if rng.random() < 0.7 else rng.uniform(0.0, 0.2)
    alpha = rng.uniform(0.4, 0.9) * np.clip(mask, 0.0, 1.0)[..., None]
    return x * (1 - alpha) + alpha * tone


def augment_image(
    image: np.ndarray,
    rng: np.random.Generator,
    clean: float = TrainConfig.clean_fraction,
    specks: float = TrainConfig.specks,
) -> np.ndarray:
    """One H×W×3 uint8 image with random real-camera variety (or, with chance ``clean``, untouched).

    Ranges are set for the model's input resolution (the image is augmented after resizing) and
    kept mild: at 64-96 px, stronger blur, noise or JPEG erased the shapes and slowed learning
    about 3× (measured with scripts/scenes_recipes.py; see docs/scenes.md). ``specks`` is the
    chance of a lens-dirt layer (:func:`_specks`); at 0 no random number is drawn for it, so
    recipes without it keep their exact training stream.
    """
    if rng.random() < clean:
        return image
    x = image.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        x = _affine(x, rng)
    x = _degrade(_colour(_lighting(x, rng), rng), rng)
    if specks > 0 and rng.random() < specks:
        x = _specks(x, rng)
    out = (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if rng.random() < 0.2:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 85))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def training_batch(
    scenes: Sequence[Scene],
    image_size: int,
    seeds: Sequence[int],
    augment: bool,
    render_size: int = RAW_SIZE,
    clean: float = TrainConfig.clean_fraction,
    specks: float = TrainConfig.specks,
) -> torch.Tensor:
    """Render at ``render_size``, resize to the model resolution, (optionally) augment, normalise.

    Rendering at 128 instead of the raw 224 px costs a quarter of the time and, after the area
    resize to 64 px, differs from the 224-px path by about 2/255 per pixel on average.
    ``clean`` is the share of images left unaugmented; ``specks`` see :func:`augment_image`.
    """
    images = resize_images([render_scene(scene, render_size) for scene in scenes], image_size)
    if augment:
        images = np.stack(
            [
                augment_image(img, np.random.default_rng(s), clean, specks)
                for img, s in zip(images, seeds, strict=True)
            ]
        )
    return normalise_images(images)


#: classes of the dense per-patch labels: 0 = no object, then one per shape / colour / size
DENSE_CLASSES = (len(SHAPES) + 1, len(COLOURS) + 1, len(SIZES) + 1)
_SHAPE_ID = {name: i + 1 for i, name in enumerate(SHAPES)}
_COLOUR_ID = {name: i + 1 for i, name in enumerate(COLOURS)}
_SIZE_ID = {name: i + 1 for i, name in enumerate(SIZES)}


def patch_labels(scene: Scene, grid: int) -> np.ndarray:
    """(grid*grid, 3) int64 shape/colour/size class of the object whose disc covers each patch centre.

    The generator knows what it drew; telling the ViT which patch shows what is a far denser
    signal than one caption per image, and makes a 20-minute CPU model bind shape, colour and
    place (without it, shape recognition lagged far behind colour).
    """
    centres = (np.arange(grid) + 0.5) / grid
    dx, dy = centres[None, :], centres[:, None]
    labels = np.zeros((grid, grid, 3), dtype=np.int64)
    for obj in scene.objects:
        inside = (dx - obj.x) ** 2 + (dy - obj.y) ** 2 < (1.05 * obj.radius) ** 2
        labels[inside] = (_SHAPE_ID[obj.shape], _COLOUR_ID[obj.colour], _SIZE_ID[obj.size])
    return labels.reshape(grid * grid, 3)


class DenseHead(nn.Module):
    """Per-patch shape/colour/size classifier on the ViT's output tokens (training only, not shipped)."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, sum(DENSE_CLASSES))

    def loss(self, patch_tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the three per-patch label kinds; tokens (B, P, W), labels (B, P, 3)."""
        logits = self.linear(patch_tokens).split(DENSE_CLASSES, dim=-1)
        return sum(
            F.cross_entropy(lg.flatten(0, 1), labels[..., k].flatten()) for k, lg in enumerate(logits)
        ) / len(DENSE_CLASSES)


class SceneStream(torch.utils.data.IterableDataset):
    """Endless, seeded stream of training batches ``(image indices, caption slots, images, patch labels)``.

    Epochs are seeded permutations of the images; each sample gets its own augmentation seed, so
    the stream is identical whether it runs in the main process or in any number of loader
    workers (worker k renders the steps k, k + W, ...; the loader interleaves them in order).
    """

    def __init__(self, scenes: Sequence[Scene], captions_per_image: int, cfg: TrainConfig, vit: ViTConfig):
        self.scenes = list(scenes)
        self.captions_per_image = captions_per_image
        self.cfg = cfg
        self.image_size = vit.image_size
        self.grid = vit.image_size // vit.patch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        n, bs, seed = len(self.scenes), self.cfg.batch_size, self.cfg.seed
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = np.random.default_rng([seed, 102])
        order = np.empty(0, dtype=np.int64)
        for step in itertools.count():
            if len(order) < bs:
                order = np.concatenate([order, rng.permutation(n)])
            idx, order = order[:bs], order[bs:]
            slots = rng.integers(0, self.captions_per_image, size=bs)
            if step % workers != worker:
                continue
            seeds = np.random.SeedSequence([seed, 103, step]).generate_state(bs)
            batch = [self.scenes[i] for i in idx]
            specks = self.cfg.specks if step >= self.cfg.specks_from else 0.0
            images = training_batch(
                batch,
                self.image_size,
                seeds.tolist(),
                self.cfg.augment,
                self.cfg.render_size,
                self.cfg.clean_fraction,
                specks,
            )
            labels = torch.from_numpy(np.stack([patch_labels(sc, self.grid) for sc in batch]))
            yield torch.from_numpy(idx), torch.from_numpy(slots), images, labels


def _worker_init(_: int) -> None:
    """Loader workers render single-threaded: the main process owns the cores for training."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- training
def _lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction, then cosine decay to zero."""
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def _optimizer(
    modules: Sequence[nn.Module], extra: Sequence[nn.Parameter], cfg: TrainConfig
) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms, biases, positions, temperature)."""
    decay, no_decay = [], list(extra)
    for module in modules:
        for name, p in module.named_parameters():
            (decay if p.ndim >= 2 and "pos_embed" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98))


def clip_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: torch.Tensor,
    negative_emb: torch.Tensor | None = None,
    negative_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matching (image, caption) pairs.

    ``negative_emb`` (B, D) or (B, K, D) adds one or K hard-negative captions per image to the
    image-to-text softmax (as extra gallery columns; ``negative_mask`` False drops missing ones).
    """
    image_emb = F.normalize(image_emb, dim=-1)
    logits = logit_scale.exp() * image_emb @ F.normalize(text_emb, dim=-1).T
    labels = torch.arange(len(logits), device=logits.device)
    i2t = logits
    if negative_emb is not None:
        negative_emb = negative_emb.reshape(-1, negative_emb.shape[-1])
        extra = logit_scale.exp() * image_emb @ F.normalize(negative_emb, dim=-1).T
        if negative_mask is not None:
            extra = extra.masked_fill(~negative_mask.reshape(1, -1), float("-inf"))
        i2t = torch.cat([logits, extra], dim=1)
    return 0.5 * (F.cross_entropy(i2t, labels) + F.cross_entropy(logits.T, labels))


def _check(cfg: TrainConfig) -> None:
    if cfg.steps < 1 or not 2 <= cfg.batch_size <= cfg.train_images:
        raise ValueError(
            f"need --steps >= 1 and 2 <= --batch-size <= --train-images, got {cfg.steps}, {cfg.batch_size}, "
            f"{cfg.train_images}"
        )
    if cfg.minutes is not None and cfg.minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {cfg.minutes}")
    if cfg.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {cfg.workers}")
    if not 1 <= cfg.negatives_per_caption <= MAX_NEGATIVE_VARIANTS:
        raise ValueError(
            f"--negatives-per-caption must be in 1..{MAX_NEGATIVE_VARIANTS}, got {cfg.negatives_per_caption}"
        )
    if not 0.0 <= cfg.clean_fraction <= 1.0:
        raise ValueError(f"--clean-fraction must be in [0, 1], got {cfg.clean_fraction}")
    if cfg.grad_clip < 0:
        raise ValueError(f"--grad-clip must be >= 0 (0: off), got {cfg.grad_clip}")
    if not 0.0 <= cfg.specks <= 1.0:
        raise ValueError(f"--specks must be in [0, 1], got {cfg.specks}")
    if cfg.specks_from < 0:
        raise ValueError(f"--specks-from must be a step >= 0, got {cfg.specks_from}")
    if cfg.refit_images < 0 or not 1 <= cfg.refit_captions <= 5 or cfg.refit_epochs < 1:
        raise ValueError(
            "need --refit-images >= 0, --refit-captions in 1..5 and --refit-epochs >= 1, got "
            f"{cfg.refit_images}, {cfg.refit_captions}, {cfg.refit_epochs}"
        )
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")


def _training_slots(cfg: TrainConfig) -> np.ndarray:
    """(train_images, captions_per_image) seeded picks among each image's 5 captions."""
    rng = np.random.default_rng([cfg.seed, 101])
    return np.stack(
        [rng.choice(5, size=cfg.captions_per_image, replace=False) for _ in range(cfg.train_images)]
    )


def _negative_features(
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


def pretrain_scenes(
    out: Path,
    seed: int = 0,
    steps: int = TrainConfig.steps,
    minutes: float | None = None,
    batch_size: int = TrainConfig.batch_size,
    vit: ViTConfig | None = None,
    progress: bool = True,
    device: str = "cpu",
    **overrides: Any,
) -> Path:
    """Train the scenes source model and write ``out/scenes_source.{safetensors,json}``.

    The schedule runs over ``steps``; with ``minutes`` it runs over wall-clock time instead
    (machines of other speeds then train for more or fewer steps, so only ``steps`` is
    reproducible). ``overrides`` set other :class:`TrainConfig` fields. Returns the weights path.
    """
    cfg = TrainConfig(seed=seed, steps=steps, minutes=minutes, batch_size=batch_size, **overrides)
    _check(cfg)
    torch.manual_seed(seed)
    vit = vit or ViTConfig()
    if cfg.render_size < vit.image_size:
        raise ValueError(f"--render-size {cfg.render_size} is below the model's {vit.image_size}-px input")
    data = scenes_split("train", cfg.train_images, seed, variants=False)
    scenes = generate_scenes("train", cfg.train_images, seed)
    encoder = SceneEncoder(vit)
    k = cfg.captions_per_image
    slots = _training_slots(cfg)
    texts = [data.texts[5 * i + int(j)] for i, row in enumerate(slots) for j in row]
    feats = caption_features(encoder, texts, device=device).view(cfg.train_images, k, -1)
    negatives = _negative_features(encoder, scenes, slots, cfg, device) if cfg.hard_negatives else None
    encoder.text.model.requires_grad_(False)
    text_head = StandardisedProjection(encoder.text.proj, feats.view(-1, feats.shape[-1]))
    dense_head = DenseHead(vit.width)
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.temperature)))
    trained = [encoder.vision, text_head, dense_head]
    for module in trained:
        module.to(device)
    logit_scale.data = logit_scale.data.to(device)
    feats = feats.to(device)
    if negatives is not None:
        negatives = (negatives[0].to(device), negatives[1].to(device))
    opt = _optimizer([encoder.vision, encoder.text.proj, dense_head], [logit_scale], cfg)
    stream = SceneStream(scenes, k, cfg, vit)
    # spawn, not fork: forking after torch/tokenizer threads exist can deadlock the worker
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.workers,
        worker_init_fn=_worker_init if cfg.workers else None,
        multiprocessing_context="spawn" if cfg.workers else None,
        prefetch_factor=4 if cfg.workers else None,
    )
    encoder.vision.train()
    # bf16 autocast runs the ViT's matmuls in bfloat16 (CPUs with AVX512-BF16/AMX, and GPUs);
    # the losses, the text projection and the optimizer stay in float32
    autocast = torch.autocast(
        torch.device(device).type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"
    )
    clipped = [p for group in opt.param_groups for p in group["params"]]
    clipped_steps = 0
    start = time.monotonic()
    bar = tqdm(total=None if minutes else steps, desc="pretrain scenes", unit="step", disable=not progress)
    step = 0
    for idx, slots, images, labels in loader:
        done = (time.monotonic() - start) / (60 * minutes) if minutes else step / steps
        if done >= 1.0:
            break
        for group in opt.param_groups:
            group["lr"] = cfg.lr * _lr_factor(done, cfg.warmup)
        idx, slots = idx.to(device), slots.to(device)
        with autocast:
            tokens = encoder.vision.tokens(images.to(device))
            image_emb = encoder.vision.pool(tokens).float()
            if cfg.dense_weight:
                patches = encoder.vision.ln_post(tokens[:, -vit.num_patches :]).float()
        hard = {}
        if negatives is not None:
            hard = {
                "negative_emb": text_head(negatives[0][idx, slots]),
                "negative_mask": negatives[1][idx, slots],
            }
        loss = clip_loss(image_emb, text_head(feats[idx, slots]), logit_scale, **hard)
        if cfg.dense_weight:
            loss = loss + cfg.dense_weight * dense_head.loss(patches, labels.to(device))
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"pretraining diverged: the loss is {loss.item()} at step {step} of {steps} (seed {seed}); "
                "nothing was saved. A lower lr (TrainConfig.lr) or --precision fp32 may help"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(clipped, cfg.grad_clip)
            clipped_steps += int(norm > cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            logit_scale.clamp_(0, math.log(100))
        step += 1
        bar.update(1)
        if step % 10 == 0 or not progress:
            bar.set_postfix(loss=f"{loss.item():.3f}", T=f"{1 / logit_scale.exp().item():.3f}")
    bar.close()
    stats: dict[str, Any] = {
        "steps_run": step,
        "minutes_run": (time.monotonic() - start) / 60,
        "temperature": 1 / logit_scale.exp().item(),
        "clipped_steps": clipped_steps,
        # the same seed gives the same bytes only with the same number of threads: the
        # float reductions are split differently
        "torch_threads": torch.get_num_threads(),
    }
    text_head.cpu().fold()
    if cfg.refit_images:
        start = time.monotonic()
        n = min(cfg.refit_images, cfg.train_images)
        embeddings = clean_image_embeddings(encoder, scenes[:n], cfg.render_size, device, progress)
        texts = [data.texts[5 * i + j] for i in range(n) for j in range(cfg.refit_captions)]
        refit_text_head(encoder, embeddings, texts, cfg.refit_epochs, cfg.seed, device)
        stats["refit_minutes"] = (time.monotonic() - start) / 60
    encoder.vision.cpu()
    return save_scenes_model(encoder, out, cfg, stats)


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


def save_scenes_model(encoder: SceneEncoder, out: Path, cfg: TrainConfig, stats: dict[str, Any]) -> Path:
    """Write the trained parameters (fp16) and the JSON config the loader needs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_NAME
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in encoder.trained_state().items()}
    broken = sorted(k for k, v in state.items() if not torch.isfinite(v).all())
    if broken:
        raise ValueError(f"trained weights do not fit float16 (non-finite after the cast): {broken}")
    save_file(state, str(weights))
    meta = {
        "vit": encoder.vit_config.to_dict(),
        "text": {"model": "all-MiniLM-L6-v2", "max_tokens": MAX_TEXT_TOKENS},
    }
    meta["train"] = {**asdict(cfg), **stats}
    config_path(weights).write_text(json.dumps(meta, indent=2) + "\n")
    return weights


# ----------------------------------------------------------------------------- evaluation
def _shifted(dataset: RetrievalDataset, shift: str | None, seed: int) -> Callable[[int], np.ndarray]:
    """Image ``i`` of ``dataset``, corrupted by ``shift`` ("name@severity") when given."""
    if shift is None:
        return dataset.images.__getitem__
    from qshift.shifts import apply, parse_shift

    spec = parse_shift(shift)
    return lambda i: apply(spec.name, dataset.images[i], spec.severity, seed * 1_000_003 + i)


@torch.inference_mode()
def recall_at_1(
    encoder: SceneEncoder,
    dataset: RetrievalDataset,
    image_shift: str | None = None,
    texts: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Full-matrix R@1 (percent) in both directions, optionally with corrupted images or other captions."""
    image_at = _shifted(dataset, image_shift, seed)
    imgs = torch.cat(
        [
            encoder.embed_images([image_at(i) for i in range(s, min(s + 250, dataset.num_images))])
            for s in range(0, dataset.num_images, 250)
        ]
    )
    txts = encoder.embed_texts(list(texts if texts is not None else dataset.texts))
    i2t, t2i = top1_both_ways(imgs @ txts.T, dataset.image_groups, dataset.text_groups)
    return {"i2t_r1": i2t, "t2i_r1": t2i}
