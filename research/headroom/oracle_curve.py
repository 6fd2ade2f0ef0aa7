"""How high the held-out oracle can go: its score on the held-out half after every epoch.

A check of the ceiling rather than a setting: the best epoch is picked on the very queries it
scores, so the curve's maximum is an optimistic bound on what a held-out fit of the adapted
parameters reaches. ``--loss inbatch`` swaps the gallery softmax for an in-batch contrastive
loss (negatives: the relevant items of the batch's other queries).

    python research/headroom/oracle_curve.py --shift gaussian_noise@5 --lr 1e-2 --epochs 30
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

import qshift
from qshift.api import embed_gallery
from qshift.bench.oracle import OracleFitter, half_split, prepare_part, supervised_loss
from qshift.data.queries import QueryBatches
from qshift.gallery import Gallery
from qshift.methods.params import select_parameters
from qshift.shifts.spec import parse_shift
from qshift.tasks import get_task


def inbatch_loss(z: torch.Tensor, gallery: Gallery, relevant: torch.Tensor, valid: torch.Tensor, t: float):
    """The gallery softmax restricted to the items relevant to some query of the batch."""
    rows = torch.unique(relevant[valid])
    position = torch.full((gallery.size,), -1, dtype=torch.long)
    position[rows] = torch.arange(len(rows))
    moved = position[relevant.clamp_min(0)]
    sub = Gallery(gallery.embeddings[rows], record="dense")
    return supervised_loss(z, sub, moved.clamp_min(0), valid & (moved >= 0), t)


LOSSES = {"gallery": supervised_loss, "inbatch": inbatch_loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scenes")
    parser.add_argument("--shift", required=True)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--loss", choices=tuple(LOSSES), default="gallery")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    encoder, dataset = qshift.load_encoder("scenes"), qshift.load_dataset(args.dataset)
    queries = QueryBatches(encoder, dataset, "i2t", seed=args.seed, workers=1)
    tower = encoder.query_tower("i2t")
    params = select_parameters(tower, encoder.adapt_params("i2t"))
    for p in tower.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    gallery = Gallery(embed_gallery(encoder, dataset, "i2t", 1), record="dense")
    fitter = OracleFitter(tower, params, gallery, dataset.groups[get_task("i2t").gallery])
    spec = parse_shift(args.shift)
    halves = [
        prepare_part(queries, half, spec, 64, encoder.device)
        for half in half_split(queries.num_queries, args.seed)
    ]
    curves = []
    for fit_on, score_on in ((0, 1), (1, 0)):
        fitter.restore()
        optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
        curve = [fitter.score(halves[score_on])["r1"]]
        for epoch in range(args.epochs):
            order = torch.Generator().manual_seed(epoch)
            fitter.epoch(halves[fit_on], optimizer, args.temperature, order, LOSSES[args.loss])
            curve.append(fitter.score(halves[score_on])["r1"])
        curves.append(curve)
    mean = np.mean(curves, axis=0)
    print(json.dumps({
        "shift": args.shift, "lr": args.lr, "loss": args.loss, "temperature": args.temperature,
        "source": round(float(mean[0]), 1), "per_epoch": [round(float(x), 1) for x in mean[1:]],
        "best": round(float(mean.max()), 1), "best_epoch": int(mean.argmax()),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
