"""``qshift pretrain scenes-cir``: reproduce the shipped scenes-cir Combiner on the CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from qshift.cli.common import add_command
from qshift.scenes_cir.pretrain import CIRTrainConfig


def _run(args: argparse.Namespace) -> int:
    from qshift.scenes_cir.pretrain import pretrain_scenes_cir

    config = CIRTrainConfig(
        seed=args.seed,
        families=args.families,
        texts_per_query=args.texts_per_query,
        epochs=args.epochs,
        batch_families=args.batch_families,
        lr=args.lr,
        dropout=args.dropout,
        proj=args.proj,
        hidden=args.hidden,
    )
    weights = pretrain_scenes_cir(args.out, config, evaluate=not args.no_eval)
    print(f"wrote {weights} and {weights.with_suffix('.json')}")
    return 0


def register(targets: argparse._SubParsersAction) -> None:
    """Add ``scenes-cir`` to the targets of ``qshift pretrain``."""
    d = CIRTrainConfig
    p = add_command(
        targets,
        "scenes-cir",
        _run,
        help="train the scenes-cir Combiner on frozen scenes towers (CPU, minutes)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/scenes_cir"), help="output folder")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--families", type=int, default=d.families, help="training families (6 triplets each)")
    p.add_argument("--texts-per-query", type=int, default=d.texts_per_query, help="wordings per triplet")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-families", type=int, default=d.batch_families, help="families per batch")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--dropout", type=float, default=d.dropout, help="Combiner dropout while training")
    p.add_argument("--proj", type=int, default=d.proj, help="width of each projected feature")
    p.add_argument("--hidden", type=int, default=d.hidden, help="width of the Combiner's MLP")
    p.add_argument("--no-eval", action="store_true", help="skip the clean val R@K at the end")
