"""Families of composed-retrieval triplets, deterministic from a seed.

A *family* is one reference scene and six edited variants of it. Some variants are the targets
of queries (reference + modification text → target); the others are near misses (the same edit
with another value, or the query's other edit changed), further edits, or *twins*: another
rendering of a query's target description on a different background, a second correct answer.
The six variants are the query's candidate subset (CIRR's Recall_subset), all one or two edits
away from the reference.

Randomness: family ``f`` of split ``s`` draws from ``default_rng([seed, STREAM, code(s), f, purpose])``,
so splits use disjoint seed streams (and streams apart from the scenes captioning benchmark's),
and any family can be rebuilt from its index alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qshift.data.scenes import Scene, sample_scene
from qshift.scenes_cir.edits import (
    Description,
    Edit,
    added_cells,
    apply_edits,
    describe,
    feasible_kinds,
    random_edit,
    twin,
)
from qshift.scenes_cir.texts import modification_text
from qshift.scenes_cir.words import ALL_STYLES

SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
#: families per split (test: 1,000 queries over 3,500 images)
FAMILY_COUNTS = {"train": 4000, "val": 500, "test": 500}
#: queries per family: two on val/test, every variant on train (siblings are hard negatives)
QUERIES_PER_FAMILY = {"train": 6, "val": 2, "test": 2}
VARIANTS = 6
#: chance that a query asks for two edits at once, and that a twin of its target is drawn
P_DOUBLE = 0.25
P_TWIN = 0.3
#: share of the non-query variants that are near misses of a query's edit
P_NEAR = 0.6
#: keeps these streams apart from the scenes captioning benchmark's ``[seed, split, index, purpose]``
STREAM = 1801
_PURPOSE_FAMILY, _PURPOSE_TEXT = 1, 2
_TRIES = 200


@dataclass(frozen=True)
class Query:
    """One triplet of a family: its edits, its target variant and its text in every style made."""

    edits: tuple[Edit, ...]
    target: int
    texts: dict[str, str]


@dataclass(frozen=True)
class Family:
    """A reference scene, its six variants and the queries among them."""

    reference: Scene
    variants: tuple[Scene, ...]
    queries: tuple[Query, ...]


def split_code(split: str, seed: int) -> int:
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown scenes-cir split {split!r}; expected one of {', '.join(SPLIT_CODES)}")
    if seed < 0:
        raise ValueError(f"scenes-cir seed must be >= 0, got {seed}")
    return SPLIT_CODES[split]


def family_rng(seed: int, split: str, family: int, *purpose: int) -> np.random.Generator:
    """The generator of one family of ``split`` and one purpose (disjoint streams per split)."""
    return np.random.default_rng([seed, STREAM, split_code(split, seed), family, *purpose])


def random_plan(reference: Scene, rng: np.random.Generator, double: bool) -> tuple[Edit, ...]:
    """One or two random edits of ``reference`` (two of different kinds); ValueError if they clash."""
    n = len(reference.objects)
    kind = str(rng.choice(feasible_kinds(reference, range(n))))
    first = random_edit(reference, rng, kind, None if kind == "add" else int(rng.integers(n)))
    if not double:
        return (first,)
    extra = {"add": 1, "remove": -1}.get(first.kind, 0)
    others = [i for i in range(n) if i != first.target]
    kinds = [k for k in feasible_kinds(reference, others or [0], extra) if k != first.kind]
    if not kinds:
        raise ValueError("no second edit fits")
    kind = str(rng.choice(kinds))
    if kind == "add":
        target = None
    elif kind == "remove" or first.kind in ("add", "remove"):
        target = int(rng.choice(others))
    else:  # change another object, or another attribute of the same one
        target = int(rng.choice([*others, first.target]))
    return first, random_edit(reference, rng, kind, target, taken_cells=added_cells([first]))


def near_miss(reference: Scene, plan: tuple[Edit, ...], rng: np.random.Generator) -> tuple[Edit, ...]:
    """``plan`` with one edit changed: the same kind and object with another value (colour, shape,
    position), another attribute of the object (size), or another object added or removed."""
    index = int(rng.integers(len(plan)))
    edit, rest = plan[index], [e for k, e in enumerate(plan) if k != index]
    taken = added_cells(rest)
    if edit.kind in ("colour", "shape", "position"):
        new = random_edit(reference, rng, edit.kind, edit.target, taken_cells=taken, avoid=edit.value)
    elif edit.kind == "size":
        new = random_edit(
            reference, rng, str(rng.choice(["colour", "shape"])), edit.target, taken_cells=taken
        )
    elif edit.kind == "add":
        new = random_edit(reference, rng, "add", taken_cells=taken)
    else:
        others = [i for i in range(len(reference.objects)) if i != edit.target]
        new = Edit("remove", int(rng.choice(others)))
    changed = list(plan)
    changed[index] = new
    return tuple(changed)


def make_family(
    reference: Scene, rng: np.random.Generator, queries: int
) -> tuple[list[Scene], list[tuple[Edit, ...]], list[int]]:
    """The variants of ``reference``, the edit plans of the first ``queries`` and their targets.

    Variants have distinct descriptions, none the reference's, except twins, which repeat a
    query target's description on another background.
    """
    seen: set[Description] = {describe(reference)}
    variants: list[Scene] = []
    plans: list[tuple[Edit, ...]] = []

    def attempt(make: Callable[[], tuple[Edit, ...]]) -> bool:
        try:
            plan = make()
            scene = apply_edits(reference, plan, rng)
        except ValueError:
            return False
        if describe(scene) in seen:
            return False
        seen.add(describe(scene))
        variants.append(scene)
        plans.append(plan)
        return True

    for _ in range(queries):
        if not any(
            attempt(lambda: random_plan(reference, rng, rng.random() < P_DOUBLE)) for _ in range(_TRIES)
        ):
            raise ValueError("could not draw distinct query edits for a reference scene")
    targets = list(range(queries))
    for q in range(queries):
        if len(variants) < VARIANTS and rng.random() < P_TWIN:
            variants.append(twin(variants[q], sample_scene(rng).background, rng))

    def other() -> tuple[Edit, ...]:
        if rng.random() < P_NEAR:
            return near_miss(reference, plans[int(rng.integers(queries))], rng)
        return random_plan(reference, rng, False)

    while len(variants) < VARIANTS:
        if not any(attempt(other) for _ in range(_TRIES)):
            raise ValueError("could not draw distinct variants for a reference scene")
    return variants, plans[:queries], targets


def build_family(split: str, index: int, seed: int = 0, styles: tuple[str, ...] = ("base",)) -> Family:
    """Family ``index`` of ``split``: its scenes, queries and the texts of ``styles``."""
    if any(s not in ALL_STYLES for s in styles):
        raise ValueError(f"unknown styles {styles}; expected some of {', '.join(ALL_STYLES)}")
    rng = family_rng(seed, split, index, _PURPOSE_FAMILY)
    reference = sample_scene(rng)
    variants, plans, targets = make_family(reference, rng, QUERIES_PER_FAMILY[split])
    queries = tuple(
        Query(
            edits=plan,
            target=target,
            texts={style: wording(reference, plan, style, split, index, q, seed) for style in styles},
        )
        for q, (plan, target) in enumerate(zip(plans, targets, strict=True))
    )
    return Family(reference=reference, variants=tuple(variants), queries=queries)


def wording(
    reference: Scene,
    plan: tuple[Edit, ...],
    style: str,
    split: str,
    family: int,
    query: int,
    seed: int = 0,
    variant: int = 0,
) -> str:
    """The modification text of query ``query`` of a family in ``style``; ``variant`` > 0 words it anew
    (more training texts for one triplet), from a stream of its own."""
    extra = (variant,) if variant else ()
    rng = family_rng(seed, split, family, _PURPOSE_TEXT, query, ALL_STYLES.index(style), *extra)
    return modification_text(reference, plan, style, rng)
