"""Offline analyses on cached source embeddings (research/headroom/embed_cache.py): the diagnosis
of pseudo-labels and near-duplicates, and every training-free correction of the source model.

The transforms are the library's own (RecenterTransform, QBNormTransform, DBNormTransform, the
``smooth`` post transform) run batch by batch in the cached stream order; the variants the
library does not ship (a re-centering strength, per-dimension spread matching, a bank of clean
training queries, the val split's own clean mean as an upper bound) are written here.

    python research/headroom/offline.py --direction i2t --emb runs/emb --out runs/offline
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from qshift.gallery import Gallery
from qshift.methods.dbnorm import DBNormTransform
from qshift.methods.post import PostTransform, apply_post, build_post
from qshift.methods.qbnorm import QBNormTransform
from qshift.methods.recenter import RecenterTransform
from qshift.methods.source_stats import SourceStats
from qshift.metrics import RetrievalMetrics

BATCH = 64
Correction = Callable[[torch.Tensor, Gallery], torch.Tensor]  # one batch's embeddings -> scores


def r1_of(scores_per_batch: list[torch.Tensor], groups: torch.Tensor, gallery_groups: np.ndarray) -> float:
    metrics = RetrievalMetrics(gallery_groups)
    for i, scores in enumerate(scores_per_batch):
        metrics.update(scores, groups[i * BATCH : (i + 1) * BATCH].numpy())
    return metrics.compute()["r1"]


def run_stream(z: torch.Tensor, gallery: Gallery, make: Callable[[], Correction]) -> list[torch.Tensor]:
    correct = make()
    return [correct(z[i : i + BATCH], gallery) for i in range(0, len(z), BATCH)]


def library(
    transform_factory: Callable[[], PostTransform | list[PostTransform]],
) -> Callable[[], Correction]:
    """A correction from a library PostTransform, or a list applied in order as ``post=`` does
    (fresh state per stream)."""

    def make() -> Correction:
        built = transform_factory()
        transforms = built if isinstance(built, list) else [built]

        def correct(z: torch.Tensor, gallery: Gallery) -> torch.Tensor:
            z2, scores = apply_post(transforms, z, gallery)
            return gallery.scores(z2) if scores is None else scores

        return correct

    return make


def recenter_variant(clean: torch.Tensor, strength: float = 1.0, clean_var: torch.Tensor | None = None):
    """z′ = normalize(clean + α(z − m) (· σ_clean/σ_stream per dim when clean_var is given))."""

    def make() -> Correction:
        seen: list[torch.Tensor] = []

        def correct(z: torch.Tensor, gallery: Gallery) -> torch.Tensor:
            seen.append(z)
            allz = torch.cat(seen)
            mean = allz.mean(0)
            centred = z - mean
            if clean_var is not None and len(allz) > 1:
                centred = centred * (clean_var.sqrt() / allz.var(0, unbiased=False).sqrt().clamp_min(1e-6))
            shifted = z - strength * (mean - clean)
            out = shifted if clean_var is None else clean + centred
            return gallery.scores(F.normalize(out, dim=-1))

        return correct

    return make


def clean_bank_qbnorm(bank: torch.Tensor, beta: float):
    """QB-Norm as published: a fixed bank of clean training queries, dynamic inverted softmax."""

    def make() -> Correction:
        state: dict[str, torch.Tensor] = {}

        def correct(z: torch.Tensor, gallery: Gallery) -> torch.Tensor:
            if not state:
                s_bank = gallery.scores(bank)
                state["log_norm"] = torch.logsumexp(beta * s_bank.double(), dim=0).float()
                active = torch.zeros(gallery.size, dtype=torch.bool)
                active[s_bank.argmax(dim=1)] = True
                state["active"] = active
            s = gallery.scores(z)
            applies = state["active"][s.argmax(dim=1)][:, None].float()
            return beta * s - applies * state["log_norm"]

        return correct

    return make


def near_duplicates(gallery: torch.Tensor, groups: np.ndarray, texts: list[str] | None) -> dict[str, float]:
    """Gallery items with an identical text / a near-identical embedding attached to another group."""
    sims = gallery @ gallery.T
    other = torch.as_tensor(groups)[None, :] != torch.as_tensor(groups)[:, None]
    best_other = torch.where(other, sims, torch.full_like(sims, -2)).max(dim=1).values
    out = {f"cos>={t}": 100.0 * float((best_other >= t).float().mean()) for t in (0.99, 0.95, 0.9)}
    if texts is not None:
        owners: dict[str, set[int]] = {}
        for text, group in zip(texts, groups, strict=True):
            owners.setdefault(text, set()).add(int(group))
        out["same_text"] = 100.0 * float(np.mean([len(owners[t]) > 1 for t in texts]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--direction", choices=("i2t", "t2i"), default="i2t")
    parser.add_argument("--emb", type=Path, default=Path("runs/emb"))
    parser.add_argument("--stats", default="runs/stats/scenes-train-{direction}.safetensors")
    parser.add_argument("--bank", type=int, default=2000, help="clean train queries in the QB-Norm bank")
    parser.add_argument("--out", type=Path, default=Path("runs/offline"))
    parser.add_argument("--only", action="append", default=None, help="keep variants containing this")
    args = parser.parse_args()
    root = args.emb / args.direction
    stored = torch.load(root / "gallery.pt", weights_only=False)
    gallery_emb, gallery_groups = stored["g"], np.asarray(stored["groups"])
    gallery = Gallery(gallery_emb)
    stats = SourceStats.load(args.stats.format(direction=args.direction))
    clean_val = torch.load(root / "none.pt", weights_only=False)["z"]
    bank_path = root / "train-bank.pt"
    if not bank_path.exists():
        import qshift
        from qshift.encoders.base import move_batch

        encoder = qshift.load_encoder("scenes")
        train = qshift.load_dataset("scenes:train")
        modality = "image" if args.direction == "i2t" else "text"
        items = train.images if modality == "image" else train.texts
        pick = np.sort(np.random.default_rng(1).choice(len(items), size=args.bank, replace=False))
        with torch.no_grad():
            rows = [
                F.normalize(
                    encoder.query_tower(args.direction)(
                        move_batch(
                            encoder.prepare(modality, [items[int(i)] for i in pick[s : s + 128]]), "cpu"
                        )
                    ).float(),
                    dim=-1,
                )
                for s in range(0, len(pick), 128)
            ]
        torch.save(torch.cat(rows), bank_path)
    train_bank = torch.load(bank_path, weights_only=False)
    variants: dict[str, Callable[[], Correction]] = {
        "source": lambda: lambda z, g: g.scores(z),
        "recenter (train stats)": library(lambda: RecenterTransform(stats)),
        "recenter, momentum 0.9": library(lambda: RecenterTransform(stats, momentum=0.9)),
        "centre only (no stats)": library(lambda: RecenterTransform(None)),
        "recenter on the val clean mean (upper bound)": recenter_variant(clean_val.mean(0)),
        "recenter, strength 0.5": recenter_variant(stats.embedding_mean, 0.5),
        "recenter, strength 1.5": recenter_variant(stats.embedding_mean, 1.5),
        "recenter + spread matching": recenter_variant(stats.embedding_mean, clean_var=stats.embedding_var),
    }
    for beta in (5.0, 10.0, 20.0, 50.0):
        variants[f"qbnorm stream bank β={beta:g}"] = library(lambda b=beta: QBNormTransform(beta=b))
        variants[f"qbnorm clean train bank β={beta:g}"] = clean_bank_qbnorm(train_bank, beta)
    variants["qbnorm stream bank β=20, not dynamic"] = library(
        lambda: QBNormTransform(beta=20.0, dynamic=False)
    )
    for bq, bg in ((20.0, 20.0), (10.0, 10.0), (20.0, 5.0), (5.0, 20.0)):
        variants[f"dbnorm β=({bq:g},{bg:g})"] = library(
            lambda a=bq, b=bg: DBNormTransform(beta_query=a, beta_gallery=b)
        )

    for beta in (5.0, 10.0, 20.0):
        variants[f"recenter + qbnorm β={beta:g}"] = library(
            lambda b=beta: [RecenterTransform(stats), QBNormTransform(beta=b)]
        )
    variants["centre + qbnorm β=10"] = library(lambda: [RecenterTransform(None), QBNormTransform(beta=10.0)])
    for k, alpha in ((4, 0.5), (8, 0.5), (4, 1.0)):
        variants[f"recenter + qbnorm β=10 + smooth k={k} α={alpha:g}"] = library(
            lambda k=k, a=alpha: build_post(
                ["recenter", ("qbnorm", {"beta": 10.0}), ("smooth", {"k": k, "alpha": a})], stats
            )
        )
    if args.only:
        variants = {k: v for k, v in variants.items() if k == "source" or any(o in k for o in args.only)}
    shifts = sorted(p.stem for p in root.glob("*@*.pt"))
    table: dict[str, dict[str, float]] = {name: {} for name in variants}
    for shift in ["none", *shifts]:
        cached = torch.load(root / f"{shift}.pt", weights_only=False)
        z, groups = cached["z"], cached["groups"]
        for name, make in variants.items():
            table[name][shift] = r1_of(run_stream(z, gallery, make), groups, gallery_groups)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "-only" if args.only else ""
    (args.out / f"{args.direction}-training-free{suffix}.json").write_text(json.dumps(table, indent=1))
    head = "| variant | none | " + " | ".join(s.split("@")[0] for s in shifts) + " | avg shifted |"
    print(head)
    print("|" + "---|" * (len(shifts) + 3))
    for name, row in table.items():
        cells = " | ".join(f"{row[s]:.1f}" for s in ["none", *shifts])
        print(f"| {name} | {cells} | {np.mean([row[s] for s in shifts]):.2f} |")
    texts = None
    if args.direction == "i2t":
        import qshift

        texts = qshift.load_dataset("scenes:val").texts
    print(
        "near-duplicate gallery items (% of the gallery):",
        near_duplicates(gallery_emb, gallery_groups, texts),
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
