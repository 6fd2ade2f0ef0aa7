"""``qshift pretrain combiner``: train a CIR combiner on a frozen Hugging Face model.

Trains on the ``--split`` (default ``train``) triplets of a FashionIQ, CIRR or CIRCO spec, writes
``<out>`` (safetensors) and its ``.json`` sidecar, loadable as ``combiner:<out>``, then reports
the dataset's metrics on ``--val-split`` (default ``val``) with the combiner, unadapted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qshift.cli.common import add_command
from qshift.encoders.combiner_train import CombinerTraining
from qshift.errors import UsageError


def _run(args: argparse.Namespace) -> int:
    from qshift.api import evaluate
    from qshift.data import load_dataset
    from qshift.data.cir import FORMATS
    from qshift.encoders import load_encoder
    from qshift.encoders.combiner_train import train_combiner

    if args.dataset.partition(":")[0] not in FORMATS:
        raise UsageError(
            f"--dataset: a combiner trains on composed queries: {', '.join(k + ':<root>' for k in FORMATS)}"
        )
    config = CombinerTraining(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        projection_dim=args.projection_dim,
        hidden_dim=args.hidden_dim,
        dropout=args.dropout,
        seed=args.seed,
    )
    config.check()
    encoder = load_encoder(args.model, device=args.device)
    train = load_dataset(args.dataset, split=args.split)
    weights, losses = train_combiner(encoder, args.model, train, args.out, config, workers=args.workers)
    sidecar = weights.with_suffix(".json")
    print(f"wrote {weights} and {sidecar}: {len(losses)} epochs, final loss {losses[-1]:.4f}")
    if args.val_split != "none":
        val = load_dataset(args.dataset, split=args.val_split)
        result = evaluate(f"combiner:{weights}", val, direction="cir", method="source", workers=args.workers)
        shown = "  ".join(f"{k} {v:.2f}" for k, v in result.metrics.items())
        print(f"{args.val_split}: {shown}")
    return 0


def register(targets: argparse._SubParsersAction) -> None:
    """Add ``combiner`` to the targets of ``qshift pretrain``."""
    defaults = CombinerTraining()
    p = add_command(
        targets,
        "combiner",
        _run,
        help="train a CLIP4Cir-style combiner for composed queries on a frozen hf: model",
    )
    p.add_argument("--model", required=True, help="base model spec, e.g. hf:<dir-or-hub-id>")
    p.add_argument(
        "--dataset", required=True, help="fashioniq:<root>[:<category>], cirr:<root> or circo:<root>"
    )
    p.add_argument("--split", default="train", help="split to train on (default train)")
    p.add_argument("--val-split", default="val", help="split reported after training, or none (default val)")
    p.add_argument(
        "--out", type=Path, default=Path("runs/combiner/combiner.safetensors"), help="weights file to write"
    )
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--projection-dim", type=int, default=None, help="default 4 x the feature width")
    p.add_argument("--hidden-dim", type=int, default=None, help="default 8 x the feature width")
    p.add_argument("--dropout", type=float, default=defaults.dropout)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--device", default=None, help="cpu, cuda, … (default: cuda if available)")
    p.add_argument("--workers", type=int, default=4, help="image loading threads")
