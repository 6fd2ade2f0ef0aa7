"""Is the scenes text head a bottleneck? Refit it on a frozen image tower and score it on **val**.

The shipped model's ViT is frozen; its embeddings of clean training renders are the targets. A
fresh text head (linear, as shipped, or linear + residual MLP) is fit on the frozen MiniLM
features of 1-5 captions per training image with symmetric InfoNCE, then val R@1 (both ways) is
compared with the shipped head's (docs/scenes.md, "The text head"):

    python research/scenes/text_head.py --images 6000 --captions 1,2,3 --epochs 10,30 --mlp
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from qshift.metrics import top1_both_ways
from qshift.scenes.dataset import scenes_split
from qshift.scenes.model import load_scenes_encoder
from qshift.scenes.text_head import StandardisedProjection, caption_features, fit_text_head


class ResidualMLPHead(nn.Module):
    """A linear projection plus a GELU MLP on the same standardised features."""

    def __init__(self, feats: torch.Tensor, hidden: int = 1024, out_dim: int = 256):
        super().__init__()
        self.linear = StandardisedProjection(nn.Linear(feats.shape[1], out_dim), feats)
        self.mlp = nn.Sequential(nn.Linear(feats.shape[1], hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        standard = (x - self.linear.mean) / self.linear.std
        return self.linear(x) + self.mlp(standard)


@torch.no_grad()
def val_r1(head: nn.Module, feats: torch.Tensor, images: torch.Tensor, dataset) -> tuple[float, float]:
    """Val R@1 (i2t, t2i) in percent with ``head`` on the val captions' MiniLM features."""
    sims = images @ F.normalize(head(feats), dim=-1).T
    i2t, t2i = top1_both_ways(sims, dataset.image_groups, dataset.text_groups)
    return round(i2t, 1), round(t2i, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="scenes weights (default: the shipped ones)")
    parser.add_argument("--images", type=int, default=6000, help="training images to fit on")
    parser.add_argument("--captions", default="1,3", help="captions per image to try (1-5)")
    parser.add_argument("--epochs", default="10,30", help="epoch counts to try")
    parser.add_argument("--mlp", action="store_true", help="also fit the residual MLP head")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    encoder = load_scenes_encoder(args.weights)
    train = scenes_split("train", args.images, 0, variants=False)
    val = scenes_split("val", 1000, 0, variants=False)
    start = time.time()
    train_images = encoder.embed_images([train.images[i] for i in range(train.num_images)])
    val_images = encoder.embed_images([val.images[i] for i in range(val.num_images)])
    print(f"image embeddings in {time.time() - start:.0f}s", flush=True)
    counts = sorted({int(c) for c in args.captions.split(",")})
    most = max(counts)
    texts = [train.texts[5 * i + k] for i in range(args.images) for k in range(most)]
    feats = caption_features(encoder, texts)
    slot = torch.arange(most).repeat(args.images)
    owner = torch.arange(args.images).repeat_interleave(most)
    val_feats = caption_features(encoder, list(val.texts))
    print(f"shipped head: val R@1 {val_r1(encoder.text.proj, val_feats, val_images, val)}", flush=True)
    for count in counts:
        keep = slot < count
        for epochs in (int(e) for e in args.epochs.split(",")):
            heads = {"linear": StandardisedProjection(nn.Linear(feats.shape[1], 256), feats[keep])}
            if args.mlp:
                heads["mlp"] = ResidualMLPHead(feats[keep])
            for name, head in heads.items():
                fit_text_head(head, feats[keep], owner[keep], train_images, epochs, args.seed)
                r1 = val_r1(head, val_feats, val_images, val)
                print(f"{name} head, {count} caption(s)/image, {epochs} epochs: val R@1 {r1}", flush=True)


if __name__ == "__main__":
    main()
