"""Compare scenes pretraining recipes on the **val** split (never test): clean R@1 and robustness.

Each recipe is ``name:key=value,...`` over :class:`qshift.scenes.pretrain.config.TrainConfig`
fields plus the fields of :class:`qshift.scenes.vit.ViTConfig` (``width``, ``depth``,
``input_norm``, ...). For every recipe the script trains a model, then reports val R@1 in both
directions and the i2t R@1 under each of the 16 image corruptions at severity 5 (average and
minimum as a fraction of clean); ``--evaluate W.safetensors`` scores existing weights the same
way. It wrote the recipe table in docs/scenes.md:

    python research/scenes/recipes.py --device cuda --workers 14 --out runs/recipes \\
        "base:dense_weight=0" "dense:dense_weight=1" ...

``--clean-only`` skips the corruptions (clean val R@1 only: the quick CPU proxies of docs/scenes.md),
and a ``minutes=M`` field trains for M wall-clock minutes instead of ``--steps`` (equal-time
comparisons of recipes with different step costs).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from qshift.metrics import top1_both_ways
from qshift.scenes.dataset import scenes_split
from qshift.scenes.model import load_scenes_encoder
from qshift.scenes.pretrain.config import TrainConfig
from qshift.scenes.pretrain.train import pretrain_scenes
from qshift.scenes.vit import ViTConfig
from qshift.shifts import apply, names

IMAGE_SHIFTS = names("image")
VIT_KEYS = {f.name for f in fields(ViTConfig)}


def parse_recipe(text: str) -> tuple[str, dict, dict]:
    """``name:k=v,...`` -> (name, TrainConfig overrides, ViT overrides); values parsed as JSON."""
    name, _, body = text.partition(":")
    train_keys = {f.name for f in fields(TrainConfig)}
    train, vit = {}, {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        parsed = json.loads(value)
        if key in VIT_KEYS:
            vit[key] = parsed
        elif key in train_keys:
            train[key] = parsed
        else:
            raise ValueError(f"recipe {name!r}: unknown field {key!r}")
    return name, train, vit


def _corrupt_all(args: tuple[str, list[np.ndarray]]) -> np.ndarray:
    name, images = args
    return np.stack([apply(name, img, 5, 1_000_003 + i) for i, img in enumerate(images)])


@torch.inference_mode()
def embed(encoder, images: list[np.ndarray] | np.ndarray, device: str) -> torch.Tensor:
    vision = encoder.vision.to(device).eval()
    out = [
        F.normalize(vision(encoder.prepare_images(list(images[s : s + 500])).to(device)), dim=-1)
        for s in range(0, len(images), 500)
    ]
    return torch.cat(out).cpu()


@torch.inference_mode()
def embed_texts(encoder, texts: list[str], device: str) -> torch.Tensor:
    tower = encoder.text.to(device).eval()
    out = []
    for s in range(0, len(texts), 500):
        batch = {k: v.to(device) for k, v in encoder.prepare_texts(texts[s : s + 500]).items()}
        out.append(F.normalize(tower(batch), dim=-1))
    return torch.cat(out).cpu()


def evaluate_weights(
    weights: Path, val, clean: list[np.ndarray], corrupted: dict[str, np.ndarray], device: str
) -> dict:
    """Clean val R@1 both ways, and i2t R@1 under each corruption with its ratio to clean."""
    encoder = load_scenes_encoder(weights)
    txt = embed_texts(encoder, list(val.texts), device)

    def r1(images) -> tuple[float, float]:
        return top1_both_ways(embed(encoder, images, device) @ txt.T, val.image_groups, val.text_groups)

    clean_i2t, clean_t2i = r1(clean)
    scores = {"i2t": round(clean_i2t, 1), "t2i": round(clean_t2i, 1)}
    if not corrupted:
        return scores
    per_shift = {n: r1(imgs)[0] for n, imgs in corrupted.items()}
    ratios = np.array(list(per_shift.values())) / max(clean_i2t, 1e-9)
    return {
        **scores,
        "corr_avg_ratio": round(float(ratios.mean()), 3),
        "below_10pct": int((ratios < 0.1).sum()),
        "per_shift_i2t": {k: round(v, 1) for k, v in per_shift.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*")
    parser.add_argument("--evaluate", type=Path, nargs="*", default=[], help="also score these weights")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/recipes"))
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--clean-only", action="store_true", help="skip the corruptions (fast proxies)")
    args = parser.parse_args()
    recipes = [parse_recipe(r) for r in args.recipes]
    args.out.mkdir(parents=True, exist_ok=True)

    val = scenes_split("val", args.val_images, 0, variants=False)
    clean = [val.images[i] for i in range(val.num_images)]
    corrupted: dict[str, np.ndarray] = {}
    if not args.clean_only:
        t0 = time.time()
        with ProcessPoolExecutor(min(16, len(IMAGE_SHIFTS))) as pool:
            corrupted = dict(
                zip(IMAGE_SHIFTS, pool.map(_corrupt_all, [(n, clean) for n in IMAGE_SHIFTS]), strict=True)
            )
        print(f"corrupted val images in {time.time() - t0:.0f}s", flush=True)

    rows = []
    jobs = [(name, train, vit, None) for name, train, vit in recipes]
    jobs += [(str(w), {"steps": None}, {}, w) for w in args.evaluate]
    for name, train, vit, weights in jobs:
        t0 = time.time()
        steps = train.pop("steps", args.steps)
        if weights is None:
            weights = pretrain_scenes(
                args.out / name,
                steps=steps,
                batch_size=train.pop("batch_size", args.batch_size),
                vit=ViTConfig(**vit),
                progress=False,
                device=args.device,
                workers=train.pop("workers", args.workers),
                **train,
            )
        train_s = time.time() - t0
        row = {"recipe": name, "steps": steps, "train_s": round(train_s, 1)}
        row.update(evaluate_weights(weights, val, clean, corrupted, args.device))
        rows.append(row)
        print(json.dumps(row), flush=True)
        with (args.out / "recipes.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")
    print("| recipe | steps | train s | i2t | t2i | corr avg / clean | < 10 % |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        robust = f"{r['corr_avg_ratio']:.2f} | {r['below_10pct']}" if "corr_avg_ratio" in r else "– | –"
        print(f"| {r['recipe']} | {r['steps']} | {r['train_s']} | {r['i2t']} | {r['t2i']} | {robust} |")


if __name__ == "__main__":
    main()
