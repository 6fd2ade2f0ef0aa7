"""``qshift pretrain scenes``: reproduce the shipped scenes source model on the CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from qshift.cli.common import add_command
from qshift.encoders.vit import INPUT_NORMS, ViTConfig
from qshift.pretrain import PRECISIONS, TrainConfig


def _run(args: argparse.Namespace) -> int:
    from qshift.data.scenes import load_scenes_dataset
    from qshift.encoders.scenes import config_path
    from qshift.pretrain import pretrain_scenes, recall_at_1

    weights = pretrain_scenes(
        args.out,
        vit=ViTConfig(input_norm=args.input_norm),
        seed=args.seed,
        steps=args.steps,
        minutes=args.minutes,
        batch_size=args.batch_size,
        train_images=args.train_images,
        augment=not args.no_augment,
        workers=args.workers,
        precision=args.precision,
        render_size=args.render_size,
        hard_negatives=not args.no_hard_negatives,
        negatives_per_caption=args.negatives_per_caption,
        clean_fraction=args.clean_fraction,
        specks=args.specks,
        specks_from=args.specks_from,
        grad_clip=args.grad_clip,
        refit_images=args.refit_images,
        refit_captions=args.refit_captions,
        refit_epochs=args.refit_epochs,
    )
    print(f"wrote {weights} and {config_path(weights)}")
    if not args.no_eval:
        from qshift.encoders.scenes import load_scenes_encoder

        scores = recall_at_1(load_scenes_encoder(weights), load_scenes_dataset("val", args.seed))
        print(f"val R@1: i2t {scores['i2t_r1']:.1f}  t2i {scores['t2i_r1']:.1f}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pretrain scenes`` to the ``qshift`` CLI."""
    p = add_command(subparsers, "pretrain", _run, help="train a shipped source model (scenes) on the CPU")
    p.add_argument("model", choices=["scenes"], help="which model to train")
    p.add_argument("--out", type=Path, default=Path("runs/scenes_source"), help="output folder")
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="optimizer steps (reproducible)")
    p.add_argument(
        "--minutes", type=float, default=None, help="train for this wall-clock time instead of --steps"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument(
        "--train-images", type=int, default=TrainConfig.train_images, help="size of the train split"
    )
    p.add_argument(
        "--workers", type=int, default=TrainConfig.workers, help="render processes (0: in-process)"
    )
    p.add_argument(
        "--precision", choices=PRECISIONS, default=TrainConfig.precision, help="ViT precision (autocast)"
    )
    p.add_argument(
        "--render-size", type=int, default=TrainConfig.render_size, help="training render resolution (px)"
    )
    p.add_argument(
        "--input-norm",
        choices=INPUT_NORMS,
        default=ViTConfig.input_norm,
        help="the ViT's input normalisation (contrast: per image; opponent: luminance and chroma apart)",
    )
    p.add_argument("--no-augment", action="store_true", help="train on clean renders only (ablation)")
    p.add_argument(
        "--no-hard-negatives", action="store_true", help="no swapped-attribute negative captions (ablation)"
    )
    p.add_argument(
        "--negatives-per-caption",
        type=int,
        default=TrainConfig.negatives_per_caption,
        help="swapped-attribute negatives per training caption",
    )
    p.add_argument(
        "--clean-fraction",
        type=float,
        default=TrainConfig.clean_fraction,
        help="share of training images left unaugmented",
    )
    p.add_argument(
        "--specks",
        type=float,
        default=TrainConfig.specks,
        help="chance that an augmented image gets a lens-dirt layer of specks and streaks",
    )
    p.add_argument(
        "--specks-from",
        type=int,
        default=TrainConfig.specks_from,
        help="first training step with specks (a late start keeps the early, clean-feature steps plain)",
    )
    p.add_argument(
        "--grad-clip",
        type=float,
        default=TrainConfig.grad_clip,
        help="clip the gradient's global norm to this (0: off)",
    )
    p.add_argument(
        "--refit-images",
        type=int,
        default=TrainConfig.refit_images,
        help="training images the text head is refit on after the ViT's training (0: no refit)",
    )
    p.add_argument(
        "--refit-captions", type=int, default=TrainConfig.refit_captions, help="captions per refit image"
    )
    p.add_argument("--refit-epochs", type=int, default=TrainConfig.refit_epochs, help="epochs of the refit")
    p.add_argument("--no-eval", action="store_true", help="skip the validation R@1 at the end")
