"""The hyper-parameters of one scenes pretraining run, each spelled once, with its help text.

``qshift pretrain scenes`` generates its flags from these fields (``batch_size`` becomes
``--batch-size``; a boolean that defaults to True becomes ``--no-<name>``) and the JSON next to
the weights stores them, so a new option is one field here. A config is checked when it is
built: a bad value raises a :class:`~qshift.errors.ParameterError` naming its field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qshift.errors import ParameterError
from qshift.scenes.generator import SPLIT_SIZES
from qshift.scenes.negatives import MAX_NEGATIVE_VARIANTS

#: the ViT's precision while it trains (autocast); inference precisions are ``qshift.encoders.PRECISIONS``
TRAIN_PRECISIONS = ("fp32", "bf16")


def _option(default: Any, help: str, **metadata: Any) -> Any:
    """A config field with its default and the help text of its flag."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one pretraining run (stored in the JSON next to the weights)."""

    seed: int = _option(0, "seed of the training split and of every random draw of the run")
    steps: int = _option(1250, "optimizer steps; the schedule runs over them (reproducible)")
    minutes: float | None = _option(
        None, "train for this wall-clock time instead of the step count (not reproducible)"
    )
    batch_size: int = _option(128, "images per optimizer step")
    train_images: int = _option(SPLIT_SIZES["train"], "size of the train split")
    captions_per_image: int = _option(1, "captions per training image that the steps draw from (of 5)")
    lr: float = _option(2e-3, "peak AdamW learning rate (linear warm-up, then cosine decay)")
    weight_decay: float = _option(0.05, "AdamW weight decay of the weight matrices")
    warmup: float = _option(0.05, "share of the schedule spent warming the lr up")
    temperature: float = _option(0.07, "initial softmax temperature of the contrastive loss (learned)")
    augment: bool = _option(True, "real-camera variety on the training images")
    workers: int = _option(1, "render processes (0: in-process)")
    dense_weight: float = _option(1.0, "weight of the dense per-patch shape/colour/size loss (0: off)")
    hard_negatives: bool = _option(True, "swapped-attribute negative captions in the image-to-text loss")
    negatives_per_caption: int = _option(1, "swapped-attribute negatives per training caption")
    clean_fraction: float = _option(0.3, "share of training images left unaugmented")
    specks: float = _option(0.0, "chance that an augmented image gets a lens-dirt layer (specks, streaks)")
    specks_from: int = _option(
        0, "first training step with specks (a late start keeps the early, clean-feature steps plain)"
    )
    grad_clip: float = _option(0.0, "clip the gradient's global norm to this (0: off)")
    precision: str = _option("bf16", "ViT precision while training (autocast)", choices=TRAIN_PRECISIONS)
    render_size: int = _option(128, "training render resolution (px), at least the model's input")
    refit_images: int = _option(
        6000, "training images the text head is refit on after the ViT's training (0: no refit)"
    )
    refit_captions: int = _option(2, "captions per refit image (1-5)")
    refit_epochs: int = _option(30, "epochs of the text-head refit")

    def __post_init__(self) -> None:
        checks = [
            ("steps", self.steps >= 1, "must be >= 1"),
            ("train_images", self.train_images >= 2, "must be >= 2"),
            ("batch_size", 2 <= self.batch_size <= self.train_images, "must be in 2..train_images"),
            ("minutes", self.minutes is None or self.minutes > 0, "must be positive"),
            ("workers", self.workers >= 0, "must be >= 0"),
            (
                "negatives_per_caption",
                1 <= self.negatives_per_caption <= MAX_NEGATIVE_VARIANTS,
                f"must be in 1..{MAX_NEGATIVE_VARIANTS}",
            ),
            ("clean_fraction", 0.0 <= self.clean_fraction <= 1.0, "must be in [0, 1]"),
            ("specks", 0.0 <= self.specks <= 1.0, "must be in [0, 1]"),
            ("specks_from", self.specks_from >= 0, "must be a step >= 0"),
            ("grad_clip", self.grad_clip >= 0, "must be >= 0 (0: off)"),
            ("refit_images", self.refit_images >= 0, "must be >= 0"),
            ("refit_captions", 1 <= self.refit_captions <= 5, "must be in 1..5"),
            ("refit_epochs", self.refit_epochs >= 1, "must be >= 1"),
            ("precision", self.precision in TRAIN_PRECISIONS, f"must be one of {TRAIN_PRECISIONS}"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ParameterError(name, f"{name} {rule}, got {getattr(self, name)!r}")
