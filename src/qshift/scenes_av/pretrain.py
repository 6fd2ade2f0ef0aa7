"""``qshift pretrain scenes-av``: train the scenes-av source model contrastively on the CPU.

Recipe (chosen on the val split, docs/scenes-av.md): a pool of ``train_clips`` clips of the
train split is made once (video and soundtrack; ``workers`` processes), then the two towers
learn together with a symmetric InfoNCE loss (learnable temperature, from 0.07) over batches
of clips drawn from the pool epoch by epoch, with mild augmentations
(:mod:`qshift.scenes_av.augment`). AdamW, linear warm-up then cosine decay; the towers run
under bf16 autocast where the CPU supports it, the loss and the optimizer in float32.
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from qshift.data.base import RetrievalDataset
from qshift.scenes_av.augment import augment_audio, augment_video
from qshift.scenes_av.clips import make_clip
from qshift.scenes_av.dataset import clip_audio, clip_video
from qshift.scenes_av.labels import NUM_LABELS, attribute_labels
from qshift.scenes_av.model import AVConfig, SceneAVEncoder, save_scenes_av_model

PRECISIONS = ("bf16", "fp32")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`pretrain_scenes_av` (recorded in the weights' JSON)."""

    steps: int = 1800
    batch_size: int = 64
    train_clips: int = 12000
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.05
    temperature: float = 0.07
    precision: str = "bf16"
    augment: bool = True
    clean_fraction: float = 0.3
    #: weight of the attribute heads' loss (0: contrastive only)
    aux_weight: float = 0.0
    workers: int = 2
    seed: int = 0


def check_config(cfg: TrainConfig) -> None:
    """ValueError naming the first bad field."""
    for name in ("steps", "batch_size", "train_clips"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.batch_size > cfg.train_clips:
        raise ValueError(f"batch_size {cfg.batch_size} exceeds train_clips {cfg.train_clips}")
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if not 0 <= cfg.clean_fraction <= 1:
        raise ValueError(f"clean_fraction must lie in [0, 1], got {cfg.clean_fraction}")
    if cfg.workers < 0 or cfg.seed < 0 or cfg.lr <= 0:
        raise ValueError(f"workers and seed must be >= 0 and lr > 0, got {cfg.workers}, {cfg.seed}, {cfg.lr}")


Pool = tuple[np.ndarray, np.ndarray, np.ndarray]


def _make_chunk(job: tuple[int, int, int]) -> Pool:
    """Clips ``start … stop − 1`` of the train split: (n, T, S, S, 3) uint8 frames, (n, N) float16
    soundtracks and (n, NUM_LABELS) float32 attribute labels."""
    start, stop, seed = job
    video = np.stack([clip_video("train", i, seed) for i in range(start, stop)])
    audio = np.stack([clip_audio("train", i, seed) for i in range(start, stop)]).astype(np.float16)
    labels = np.stack([attribute_labels(make_clip("train", i, seed)) for i in range(start, stop)])
    return video, audio, labels


def make_pool(count: int, seed: int, workers: int, chunk: int = 250) -> Pool:
    """The first ``count`` training clips (video, audio, labels), made by ``workers`` processes (0: here)."""
    jobs = [(s, min(s + chunk, count), seed) for s in range(0, count, chunk)]
    if workers:
        # spawn, not fork: forking after torch's threads exist can deadlock a worker
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_make_chunk, jobs)
    else:
        parts = [_make_chunk(job) for job in jobs]
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


class AttributeHeads(nn.Module):
    """One linear head per tower predicting the clip's attribute labels (training only, not shipped)."""

    def __init__(self, video_width: int, audio_width: int):
        super().__init__()
        self.video = nn.Linear(video_width, NUM_LABELS)
        self.audio = nn.Linear(audio_width, NUM_LABELS)

    def loss(self, video: torch.Tensor, audio: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy of both heads."""
        bce = F.binary_cross_entropy_with_logits
        return (bce(self.video(video), labels) + bce(self.audio(audio), labels)) / 2


def clip_loss(video: torch.Tensor, audio: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE between row-aligned video and audio embeddings."""
    logits = logit_scale.exp() * F.normalize(video, dim=-1) @ F.normalize(audio, dim=-1).T
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` share of training, then cosine decay to 0."""
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup)))


def _optimizer(model: nn.Module, extra: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not on norms, biases, positions or the temperature)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n.split(".")[-1]]
    keep = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in keep] + extra
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _batches(cfg: TrainConfig, steps: int) -> list[np.ndarray]:
    """Pool indices of each step: successive seeded permutations of the pool, cut into batches."""
    rng = np.random.default_rng([cfg.seed, 11])
    order = np.concatenate(
        [rng.permutation(cfg.train_clips) for _ in range(math.ceil(steps * cfg.batch_size / cfg.train_clips))]
    )
    return [order[s * cfg.batch_size : (s + 1) * cfg.batch_size] for s in range(steps)]


def _tenths(values: list[float]) -> list[float]:
    """Means of ``values`` over each tenth of their length (rounded)."""
    tenth = max(1, len(values) // 10)
    return [round(float(np.mean(values[i : i + tenth])), 3) for i in range(0, len(values), tenth)]


def _cpu_minutes() -> float:
    """CPU minutes (user + system) of this process and its finished children so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime) / 60


def pretrain_scenes_av(
    out: str | Path,
    cfg: TrainConfig | None = None,
    model: AVConfig | None = None,
    *,
    progress: bool = True,
) -> Path:
    """Train the scenes-av model with ``cfg`` and write it to ``out``; returns the weights path."""
    cfg = cfg or TrainConfig()
    check_config(cfg)
    torch.manual_seed(cfg.seed)
    start = time.monotonic()
    video_pool, audio_pool, label_pool = make_pool(cfg.train_clips, cfg.seed, cfg.workers)
    pool_minutes = (time.monotonic() - start) / 60
    encoder = SceneAVEncoder(model).train()
    heads = AttributeHeads(encoder.config.frame.out_dim, encoder.config.audio.width)
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.temperature)))
    opt = _optimizer(nn.ModuleList([encoder, heads]), [logit_scale], cfg)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    rng = np.random.default_rng([cfg.seed, 12])
    losses: list[float] = []
    aux_losses: list[float] = []
    bar = tqdm(_batches(cfg, cfg.steps), desc="pretrain scenes-av", disable=not progress)
    for step, idx in enumerate(bar):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * _lr_factor(step / cfg.steps, cfg.warmup)
        rows = np.sort(idx)
        video = encoder.prepare_video(list(video_pool[rows]))
        waves = audio_pool[rows].astype(np.float32)
        if cfg.augment:
            video = augment_video(video, cfg.clean_fraction, rng)
            waves = augment_audio(waves, cfg.clean_fraction, rng)
        with autocast:
            v, a = encoder.video.features(video), encoder.audio.features(encoder.log_mel(list(waves)))
        v, a = v.float(), a.float()
        contrastive = clip_loss(encoder.video.proj(v), encoder.audio.proj(a), logit_scale)
        aux = heads.loss(v, a, torch.from_numpy(label_pool[rows])) if cfg.aux_weight else torch.zeros(())
        loss = contrastive + cfg.aux_weight * aux
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"pretraining diverged: the loss is {loss.item()} at step {step} (seed {cfg.seed}); "
                "nothing was saved. A lower lr or precision fp32 may help"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            logit_scale.clamp_(0, math.log(100))
        losses.append(contrastive.item())
        aux_losses.append(aux.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}", T=f"{1 / logit_scale.exp().item():.3f}", refresh=False)
    train: dict[str, Any] = {
        **asdict(cfg),
        # mean contrastive and attribute losses over each tenth of training
        "loss_curve": _tenths(losses),
        "aux_curve": _tenths(aux_losses),
        "temperature_learned": round(1 / logit_scale.exp().item(), 5),
        "pool_minutes": round(pool_minutes, 2),
        "wall_minutes": round((time.monotonic() - start) / 60, 2),
        "cpu_minutes": round(_cpu_minutes(), 2),
        # the same seed gives the same bytes only with the same number of threads
        "torch_threads": torch.get_num_threads(),
    }
    return save_scenes_av_model(encoder.eval(), Path(out), train)


@torch.inference_mode()
def recall_at_1(
    encoder: SceneAVEncoder, dataset: RetrievalDataset, batch_size: int = 200
) -> dict[str, float]:
    """Clean R@1 (percent) both ways over the whole dataset: ``a2v_r1`` and ``v2a_r1``."""
    video = encoder.embed("video", dataset.items["video"], batch_size, workers=1)
    audio = encoder.embed("audio", dataset.items["audio"], batch_size, workers=1)
    scores = audio @ video.T
    video_groups = np.asarray(dataset.groups["video"])
    audio_groups = np.asarray(dataset.groups["audio"])
    a2v = float((video_groups[scores.argmax(1).numpy()] == audio_groups).mean() * 100)
    v2a = float((audio_groups[scores.argmax(0).numpy()] == video_groups).mean() * 100)
    return {"a2v_r1": round(a2v, 2), "v2a_r1": round(v2a, 2)}


def evaluate_splits(
    weights: Path, splits: Sequence[str] = ("val",), seed: int = 0
) -> dict[str, dict[str, float]]:
    """Clean R@1 both ways of the weights at ``weights`` on each split."""
    from qshift.scenes_av.dataset import load_scenes_av_dataset
    from qshift.scenes_av.model import load_scenes_av_encoder

    encoder = load_scenes_av_encoder(weights)
    return {split: recall_at_1(encoder, load_scenes_av_dataset(split, seed)) for split in splits}
