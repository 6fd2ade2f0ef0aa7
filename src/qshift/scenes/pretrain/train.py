"""The pretraining run: the loop, its optimizer and losses, and the files it writes."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from qshift.errors import ParameterError
from qshift.scenes.dataset import scenes_split
from qshift.scenes.generator import Scene, generate_scenes
from qshift.scenes.model import MAX_TEXT_TOKENS, SceneEncoder, config_path
from qshift.scenes.pretrain.config import TrainConfig
from qshift.scenes.pretrain.dense import DenseHead
from qshift.scenes.pretrain.features import clean_image_embeddings, negative_features, training_slots
from qshift.scenes.pretrain.stream import SceneStream, worker_init
from qshift.scenes.text_head import StandardisedProjection, caption_features, refit_text_head
from qshift.scenes.vit import ViTConfig

WEIGHTS_NAME = "scenes_source.safetensors"


def pretrain_scenes(
    out: Path,
    config: TrainConfig | None = None,
    vit: ViTConfig | None = None,
    *,
    progress: bool = True,
    device: str = "cpu",
    **overrides: Any,
) -> Path:
    """Train the scenes source model and write ``out/scenes_source.{safetensors,json}``.

    ``config`` (default: :class:`TrainConfig`'s defaults, the shipped recipe) with ``overrides``
    replacing some of its fields; ``vit`` the architecture (default: the shipped one). The
    schedule runs over ``steps``; with ``minutes`` it runs over wall-clock time instead
    (machines of other speeds then train for more or fewer steps, so only ``steps`` is
    reproducible). Returns the weights path.
    """
    cfg = replace(config or TrainConfig(), **overrides)
    torch.manual_seed(cfg.seed)
    vit = vit or ViTConfig()
    if cfg.render_size < vit.image_size:
        raise ParameterError(
            "render_size", f"render_size {cfg.render_size} is below the model's {vit.image_size}-px input"
        )
    data = scenes_split("train", cfg.train_images, cfg.seed, variants=False)
    scenes = generate_scenes("train", cfg.train_images, cfg.seed)
    encoder = SceneEncoder(vit)
    slots = training_slots(cfg)
    texts = [data.texts[5 * i + int(j)] for i, row in enumerate(slots) for j in row]
    feats = caption_features(encoder, texts, device=device).view(cfg.train_images, cfg.captions_per_image, -1)
    negatives = negative_features(encoder, scenes, slots, cfg, device) if cfg.hard_negatives else None
    encoder.text.model.requires_grad_(False)
    text_head = StandardisedProjection(encoder.text.proj, feats.view(-1, feats.shape[-1]))
    dense_head = DenseHead(vit.width)
    stats = _train(encoder, text_head, dense_head, scenes, feats, negatives, cfg, progress, device)
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


def _train(
    encoder: SceneEncoder,
    text_head: StandardisedProjection,
    dense_head: DenseHead,
    scenes: Sequence[Scene],
    feats: torch.Tensor,
    negatives: tuple[torch.Tensor, torch.Tensor] | None,
    cfg: TrainConfig,
    progress: bool,
    device: str,
) -> dict[str, Any]:
    """The optimisation of the ViT, the text head and the dense head; returns the run's statistics.

    ``feats`` (N, k, 384) holds the MiniLM features of each image's k training captions,
    ``negatives`` those of their hard negatives and the mask of the ones found.
    """
    vit = encoder.vit_config
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.temperature)))
    for module in (encoder.vision, text_head, dense_head):
        module.to(device)
    logit_scale.data = logit_scale.data.to(device)
    feats = feats.to(device)
    if negatives is not None:
        negatives = (negatives[0].to(device), negatives[1].to(device))
    opt = _optimizer([encoder.vision, encoder.text.proj, dense_head], [logit_scale], cfg)
    stream = SceneStream(scenes, cfg.captions_per_image, cfg, vit)
    # spawn, not fork: forking after torch/tokenizer threads exist can deadlock the worker
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.workers,
        worker_init_fn=worker_init if cfg.workers else None,
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
    steps, minutes = cfg.steps, cfg.minutes
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
                f"pretraining diverged: the loss is {loss.item()} at step {step} of {steps} "
                f"(seed {cfg.seed}); nothing was saved. A lower lr or precision fp32 may help"
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
    return {
        "steps_run": step,
        "minutes_run": (time.monotonic() - start) / 60,
        "learned_temperature": 1 / logit_scale.exp().item(),
        "clipped_steps": clipped_steps,
        # the same seed gives the same bytes only with the same number of threads: the
        # float reductions are split differently
        "torch_threads": torch.get_num_threads(),
    }


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
