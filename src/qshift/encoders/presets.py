"""Trainable-parameter presets reproducing the paper's adapted sets per backbone.

A preset is a callable ``query_tower -> list[nn.Parameter]`` (the ``params`` argument of every
adapter, method.md §1): the affine weight and bias of the tower's LayerNorms, minus named
exceptions. Which norms each backbone adapts, and where that comes from:

- **CLIP** (Hugging Face and open_clip). Source: the TCR code's ``freeze_parameters`` /
  ``collect_params`` (``models/clip_reid_tta.py`` of XLearning-SCU/2025-ICLR-TCR, as read),
  which walk ``visual`` for images and ``transformer`` for texts. Images: every LayerNorm of
  the vision tower (``pre_layrnorm``/``ln_pre``, the blocks, ``post_layernorm``/``ln_post``).
  Texts: the LayerNorms of the transformer blocks only; the final one (HF
  ``final_layer_norm``, OpenAI/open_clip ``ln_final``) sits outside ``transformer`` and stays
  frozen.
- **BLIP** (``BlipForImageTextRetrieval``). Source: the same functions in ``models/blip_tta.py``,
  which take every LayerNorm of ``visual_encoder`` (images) or ``text_encoder`` (texts). The
  text encoder's cross-attention norms are skipped: the unimodal (ITC) text pass never runs
  cross-attention, so they would get no gradient and AdamW would leave them unchanged anyway.
- **SigLIP**: not in the paper; qshift mirrors CLIP (every vision-tower LayerNorm, including the
  attention-pooling head's; every text LayerNorm except ``final_layer_norm``).
- **Video by frame mean** (CLIP, SigLIP, BLIP; tasks ``v2t`` / ``t2v``): the video tower is the
  image tower run on every frame, so ``v2t`` adapts the family's image set and ``t2v`` its text
  set (and BLIP ``t2v`` keeps BLIP ``t2i``'s learning rate).
- **CLAP** (``a2t`` / ``t2a``) and **X-CLIP** (``v2t`` / ``t2v``): not in the paper; every
  LayerNorm of the query tower. CLAP's audio tower: patch-embedding, Swin-block, patch-merging and
  final norms (its BatchNorm over mel bins is not adapted); its text tower: the RoBERTa
  embedding and block norms. X-CLIP's video tower: the per-frame vision model's norms and those
  of the multi-frame integration transformer; its text tower: every norm, ``final_layer_norm``
  included.

- **Composed queries** (``cir``; the tower of :mod:`qshift.encoders.composed`): qshift's own
  choice, the family's image preset on the image tower, its text preset on the text tower and
  every LayerNorm of the composer (:class:`ComposedPreset`).

Backbone hyper-parameter defaults (:func:`method_defaults_for`): the learning rate is 3e-4
except 3e-5 for BLIP text-to-image (method.md §1; ``main.py`` of the TCR code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from qshift.encoders.base import Direction, check_direction


@dataclass(frozen=True)
class NormPreset:
    """Affine parameters of every LayerNorm in a tower whose qualified name avoids ``exclude``.

    A module is excluded when one of the dot-separated parts of its name (relative to the
    tower) is in ``exclude``, e.g. ``final_layer_norm`` or ``crossattention``.
    """

    name: str
    exclude: tuple[str, ...] = ()

    def __call__(self, tower: nn.Module) -> list[nn.Parameter]:
        params: list[nn.Parameter] = []
        for qualified, module in tower.named_modules():
            if isinstance(module, nn.LayerNorm) and not set(qualified.split(".")) & set(self.exclude):
                params += [p for p in (module.weight, module.bias) if p is not None]
        if not params:
            raise ValueError(f"parameter preset {self.name!r} found no LayerNorm in {type(tower).__name__}")
        return params


@dataclass(frozen=True)
class ComposedPreset:
    """A composed tower's parameters: ``image`` on its ``image`` part, ``text`` on its ``text``
    part, and the affine parameters of every LayerNorm of its ``compose`` part."""

    image: NormPreset
    text: NormPreset

    def __call__(self, tower: nn.Module) -> list[nn.Parameter]:
        params = self.image(tower.image) + self.text(tower.text)
        for module in tower.compose.modules():
            if isinstance(module, nn.LayerNorm):
                params += [p for p in (module.weight, module.bias) if p is not None]
        return params


ALL_NORMS = NormPreset("all-layernorms")
CLIP_TEXT = NormPreset("clip-text", exclude=("final_layer_norm", "ln_final"))
BLIP_TEXT = NormPreset("blip-text", exclude=("crossattention",))

#: (family, direction) -> preset; families: "clip", "siglip", "blip", "open_clip", "clap", "xclip"
PRESETS: dict[tuple[str, Direction], NormPreset | ComposedPreset] = {
    ("clip", "i2t"): ALL_NORMS,
    ("clip", "t2i"): CLIP_TEXT,
    ("clip", "v2t"): ALL_NORMS,
    ("clip", "t2v"): CLIP_TEXT,
    ("clip", "cir"): ComposedPreset(ALL_NORMS, CLIP_TEXT),
    ("open_clip", "i2t"): ALL_NORMS,
    ("open_clip", "t2i"): CLIP_TEXT,
    ("siglip", "i2t"): ALL_NORMS,
    ("siglip", "t2i"): CLIP_TEXT,
    ("siglip", "v2t"): ALL_NORMS,
    ("siglip", "t2v"): CLIP_TEXT,
    ("siglip", "cir"): ComposedPreset(ALL_NORMS, CLIP_TEXT),
    ("blip", "i2t"): ALL_NORMS,
    ("blip", "t2i"): BLIP_TEXT,
    ("blip", "v2t"): ALL_NORMS,
    ("blip", "t2v"): BLIP_TEXT,
    ("blip", "cir"): ComposedPreset(ALL_NORMS, BLIP_TEXT),
    ("clap", "a2t"): ALL_NORMS,
    ("clap", "t2a"): ALL_NORMS,
    ("xclip", "v2t"): ALL_NORMS,
    ("xclip", "t2v"): ALL_NORMS,
}


def preset_for(family: str, direction: str) -> Callable[[nn.Module], list[nn.Parameter]]:
    """The preset adapting the query tower of ``direction`` for a backbone ``family``."""
    key = (family, check_direction(direction))
    if key not in PRESETS:
        raise ValueError(f"no parameter preset for backbone family {family!r} on task {key[1]!r}")
    return PRESETS[key]


#: (family, direction) -> hyper-parameters that differ from the methods' defaults
METHOD_DEFAULTS: dict[tuple[str, Direction], dict[str, Any]] = {
    ("blip", "t2i"): {"lr": 3e-5},
    ("blip", "t2v"): {"lr": 3e-5},
}


def method_defaults_for(family: str, direction: str) -> dict[str, Any]:
    """Backbone-specific hyper-parameters (e.g. BLIP t2i ``lr=3e-5``); {} when none differ."""
    return dict(METHOD_DEFAULTS.get((family, check_direction(direction)), {}))
