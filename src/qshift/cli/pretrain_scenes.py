"""``qshift pretrain scenes``: reproduce the shipped scenes source model on the CPU.

Every field of :class:`~qshift.scenes.pretrain.config.TrainConfig` is a flag (``batch_size`` →
``--batch-size``; a boolean that defaults to True → ``--no-<name>``), with the field's default
and help text; ``--input-norm`` sets the ViT's input normalisation, ``--out`` and ``--no-eval``
are the command's own.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from qshift.cli.common import add_command, add_config_flags
from qshift.scenes.pretrain.config import TrainConfig
from qshift.scenes.vit import INPUT_NORMS, ViTConfig


def register(targets: argparse._SubParsersAction) -> None:
    """Add ``scenes`` to the targets of ``qshift pretrain``."""
    p = add_command(targets, "scenes", _run, help="the scenes image–text source model (about 20 CPU-minutes)")
    p.add_argument("--out", type=Path, default=Path("runs/scenes_source"), help="output folder")
    add_config_flags(p, TrainConfig)
    p.add_argument(
        "--input-norm",
        choices=INPUT_NORMS,
        default=ViTConfig.input_norm,
        help="the ViT's input normalisation (contrast: per image; opponent: luminance and chroma apart)",
    )
    p.add_argument("--no-eval", action="store_true", help="skip the validation R@1 at the end")


def _run(args: argparse.Namespace) -> int:
    from qshift.scenes.dataset import load_scenes_dataset
    from qshift.scenes.model import config_path, load_scenes_encoder
    from qshift.scenes.pretrain.evaluate import recall_at_1
    from qshift.scenes.pretrain.train import pretrain_scenes

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    weights = pretrain_scenes(args.out, config, ViTConfig(input_norm=args.input_norm))
    print(f"wrote {weights} and {config_path(weights)}")
    if not args.no_eval:
        scores = recall_at_1(load_scenes_encoder(weights), load_scenes_dataset("val", config.seed))
        print(f"val R@1: i2t {scores['i2t_r1']:.1f}  t2i {scores['t2i_r1']:.1f}")
    return 0
