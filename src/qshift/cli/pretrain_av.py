"""``qshift pretrain scenes-av``: reproduce the shipped scenes-av source model on the CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from qshift.cli.common import add_command
from qshift.scenes_av.pretrain import PRECISIONS, TrainConfig


def _run(args: argparse.Namespace) -> int:
    from qshift.scenes_av.model import config_path
    from qshift.scenes_av.pretrain import evaluate_splits, pretrain_scenes_av

    cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        train_clips=args.train_clips,
        lr=args.lr,
        precision=args.precision,
        augment=not args.no_augment,
        clean_fraction=args.clean_fraction,
        aux_weight=args.aux_weight,
        workers=args.workers,
        seed=args.seed,
    )
    weights = pretrain_scenes_av(args.out, cfg)
    print(f"wrote {weights} and {config_path(weights)}")
    if not args.no_eval:
        scores = evaluate_splits(weights, ("val",), args.seed)["val"]
        print(f"val R@1: a2v {scores['a2v_r1']:.1f}  v2a {scores['v2a_r1']:.1f}")
    return 0


def register(targets: argparse._SubParsersAction) -> None:
    """Add ``scenes-av`` to the targets of ``qshift pretrain``."""
    p = add_command(
        targets, "scenes-av", _run, help="train the scenes-av video–audio source model on the CPU"
    )
    p.add_argument("--out", type=Path, default=Path("runs/scenes_av_source"), help="output folder")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="clips per step")
    p.add_argument(
        "--train-clips",
        type=int,
        default=TrainConfig.train_clips,
        help="clips of the train split in the pool",
    )
    p.add_argument("--lr", type=float, default=TrainConfig.lr, help="peak AdamW learning rate")
    p.add_argument(
        "--precision", choices=PRECISIONS, default=TrainConfig.precision, help="tower precision (autocast)"
    )
    p.add_argument("--no-augment", action="store_true", help="train on clean clips only (ablation)")
    p.add_argument(
        "--clean-fraction",
        type=float,
        default=TrainConfig.clean_fraction,
        help="share of training clips left unaugmented",
    )
    p.add_argument(
        "--aux-weight",
        type=float,
        default=TrainConfig.aux_weight,
        help="weight of the training-only attribute heads (0: contrastive only)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=TrainConfig.workers,
        help="processes making the clip pool (0: in-process)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-eval", action="store_true", help="skip the validation R@1 at the end")
