"""The ``scenes`` datasets: splits of rendered images with their captions and restyled captions.

:func:`load_spec` is the registry's loader for the ``scenes`` / ``scenes:<split>`` specs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qshift.data.base import GeneratedImages, RetrievalDataset
from qshift.scenes.captions import CAPTIONS_PER_IMAGE, STYLES, caption_plans, write_caption
from qshift.scenes.generator import (
    PURPOSE_CAPTIONS,
    PURPOSE_STYLES,
    SPLIT_SIZES,
    check_split,
    generate_scenes,
    scene_rng,
)
from qshift.scenes.render import render_scene


def scenes_split(split: str, num_images: int, seed: int = 0, variants: bool = True) -> RetrievalDataset:
    """A scenes RetrievalDataset of ``num_images`` images and 5 captions each.

    ``variants`` adds the held-out caption styles as ``text_variants`` (skipped for the
    training split, which never uses them).
    """
    check_split(split, seed)
    if num_images < 1:
        raise ValueError(f"scenes num_images must be >= 1, got {num_images}")
    scenes = generate_scenes(split, num_images, seed)
    texts: list[str] = []
    styled: dict[str, list[str]] = {style: [] for style in STYLES} if variants else {}
    for index, scene in enumerate(scenes):
        rng = scene_rng(seed, split, index, PURPOSE_CAPTIONS)
        plans = caption_plans(scene, rng)
        texts += [write_caption(scene, plan, "base", rng) for plan in plans]
        for k, style in enumerate(styled):
            rng = scene_rng(seed, split, index, PURPOSE_STYLES + k)
            styled[style] += [write_caption(scene, plan, style, rng) for plan in plans]
    return RetrievalDataset(
        name="scenes" if split == "test" else f"scenes:{split}",
        images=GeneratedImages(num_images, lambda i: render_scene(scenes[i])),
        texts=texts,
        image_groups=np.arange(num_images),
        text_groups=np.repeat(np.arange(num_images), CAPTIONS_PER_IMAGE),
        text_variants=styled,
    )


def load_scenes_dataset(split: str = "test", seed: int = 0) -> RetrievalDataset:
    """The standard scenes split: test 1,000 images / 5,000 captions, val 1,000, train 20,000."""
    check_split(split, seed)
    return scenes_split(split, SPLIT_SIZES[split], seed, variants=split != "train")


def load_spec(spec: str, **options: Any) -> RetrievalDataset:
    """``scenes`` (the test split) or ``scenes:<split>``; ``options`` go to :func:`load_scenes_dataset`."""
    split = spec.partition(":")[2]
    if split:
        options["split"] = split
    return load_scenes_dataset(**options)
