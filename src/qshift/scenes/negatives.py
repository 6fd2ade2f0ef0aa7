"""Hard-negative captions for scenes pretraining: a training caption with one attribute made false.

Most wrong top-1 captions of the scenes model share the query image's colours and differ in one
shape or size (docs/scenes.md). A caption that keeps the wording of a true caption but swaps one
mentioned object's shape, colour or size is the sharpest lesson against that error: put beside
the true caption in the contrastive softmax, it can only be told apart by the swapped word.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from qshift.scenes.captions import CaptionPlan, caption_plans, write_caption
from qshift.scenes.generator import (
    COLOURS,
    PURPOSE_CAPTIONS,
    PURPOSE_NEGATIVES,
    SHAPES,
    SIZES,
    Scene,
    SceneObject,
    scene_rng,
)

#: which attribute a hard negative swaps, and how often (shape errors dominate, docs/scenes.md)
SWAP_WEIGHTS = {"shape": 0.6, "colour": 0.25, "size": 0.15}
#: negatives of one caption draw their swaps from the random-stream purposes
#: PURPOSE_NEGATIVES .. PURPOSE_NEGATIVES + MAX_NEGATIVE_VARIANTS - 1
MAX_NEGATIVE_VARIANTS = 8
_VALUES = {"shape": tuple(SHAPES), "colour": tuple(COLOURS), "size": tuple(SIZES)}


def describes(plan: CaptionPlan, described: Scene, scene: Scene) -> bool:
    """Whether the caption ``plan`` wrote about ``described`` is also true of ``scene``.

    Every mentioned object must exist in ``scene`` (distinct objects, same shape and colour,
    same size and grid cell where the caption says them); a stated count must match, and a
    caption that lists all of ``described``'s objects claims there are no others.
    """

    def fits(k: int, cand: SceneObject) -> bool:
        obj = described.objects[plan.objects[k]]
        return (
            (cand.shape, cand.colour) == (obj.shape, obj.colour)
            and (not plan.sizes[k] or cand.size == obj.size)
            and (not plan.positions[k] or (cand.row, cand.col) == (obj.row, obj.col))
        )

    # scenes hold at most three objects: trying every assignment is cheap and exact
    mentioned = range(len(plan.objects))
    if not any(
        all(fits(k, scene.objects[m]) for k, m in zip(mentioned, chosen, strict=True))
        for chosen in itertools.permutations(range(len(scene.objects)), len(plan.objects))
    ):
        return False
    lists_all = len(plan.objects) == len(described.objects) and plan.relation is None
    return not ((plan.count or lists_all) and len(scene.objects) != len(described.objects))


def _swapped(scene: Scene, plan: CaptionPlan, rng: np.random.Generator) -> Scene:
    """``scene`` with one attribute of one object the plan mentions changed to another value."""
    k = int(rng.integers(len(plan.objects)))
    kinds = [kind for kind in SWAP_WEIGHTS if kind != "size" or plan.sizes[k]]
    weights = np.array([SWAP_WEIGHTS[kind] for kind in kinds])
    kind = str(rng.choice(kinds, p=weights / weights.sum()))
    index = plan.objects[k]
    obj = scene.objects[index]
    value = str(rng.choice([v for v in _VALUES[kind] if v != getattr(obj, kind)]))
    objects = list(scene.objects)
    objects[index] = dataclasses.replace(obj, **{kind: value})
    return dataclasses.replace(scene, objects=tuple(objects))


def hard_negative_caption(
    scene: Scene, split: str, index: int, slot: int, seed: int = 0, tries: int = 8, variant: int = 0
) -> str | None:
    """A false caption worded like caption ``slot`` of scene ``index`` (training style), or None.

    The caption generator's random stream is replayed up to ``slot`` so that the negative uses
    the same templates and synonyms up to the swapped word; swaps that happen to stay true of
    the scene (another object has the new attribute) are redrawn, at most ``tries`` times.
    ``variant`` k draws the k-th independent negative of the same caption.
    """
    if not 0 <= variant < MAX_NEGATIVE_VARIANTS:
        raise ValueError(f"negative variant must be in [0, {MAX_NEGATIVE_VARIANTS}), got {variant}")
    swap_rng = scene_rng(seed, split, index, PURPOSE_NEGATIVES + variant)
    for _ in range(tries):
        rng = scene_rng(seed, split, index, PURPOSE_CAPTIONS)
        plans = caption_plans(scene, rng)
        for earlier in plans[:slot]:
            write_caption(scene, earlier, "base", rng)
        negative = _swapped(scene, plans[slot], swap_rng)
        if not describes(plans[slot], negative, scene):
            return write_caption(negative, plans[slot], "base", rng)
    return None
