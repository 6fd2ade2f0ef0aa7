"""``qshift pretrain scenes``: reproduce the shipped scenes source model on the CPU.

Every field of :class:`~qshift.scenes.pretrain.config.TrainConfig` is a flag (``batch_size`` →
``--batch-size``; a boolean that defaults to True → ``--no-<name>``), with the field's default
and help text; ``--input-norm`` sets the ViT's input normalisation, ``--out`` and ``--no-eval``
are the command's own.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from qshift.cli.common import add_command
from qshift.scenes.pretrain.config import TrainConfig
from qshift.scenes.vit import INPUT_NORMS, ViTConfig


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


def add_config_flags(parser: argparse.ArgumentParser, config: type) -> None:
    """One flag per field of the dataclass ``config``: its default, type, choices and help.

    Booleans are switches that flip the default: ``--no-<name>`` ("without <help>") for a True
    default, ``--<name>`` for a False one. A field typed ``X | None`` takes values of type X.
    """
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help")
        kind = hints[f.name]
        if kind is bool and f.default:
            parser.add_argument(
                "--no-" + flag[2:], dest=f.name, action="store_false", help=f"without {help_text}"
            )
            continue
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", help=help_text)
            continue
        options: dict[str, Any] = {"type": _value_type(kind), "default": f.default, "help": help_text}
        if "choices" in f.metadata:
            options["choices"] = f.metadata["choices"]
        parser.add_argument(flag, **options)


def _value_type(kind: Any) -> type:
    """``int`` for ``int``, ``float`` for ``float | None``: the parser of one flag value."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if args else kind


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pretrain scenes`` to the ``qshift`` CLI."""
    p = add_command(subparsers, "pretrain", _run)
    p.add_argument("model", choices=["scenes"], help="which model to train")
    p.add_argument("--out", type=Path, default=Path("runs/scenes_source"), help="output folder")
    add_config_flags(p, TrainConfig)
    p.add_argument(
        "--input-norm",
        choices=INPUT_NORMS,
        default=ViTConfig.input_norm,
        help="the ViT's input normalisation (contrast: per image; opponent: luminance and chroma apart)",
    )
    p.add_argument("--no-eval", action="store_true", help="skip the validation R@1 at the end")
