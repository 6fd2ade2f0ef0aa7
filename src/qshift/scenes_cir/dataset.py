"""The ``scenes-cir`` splits as retrieval datasets of the ``cir`` task.

Gallery: every image of the split, family by family (the reference, then its six variants),
rendered on demand at 224 px. Queries: :class:`~qshift.tasks.ComposedQuery` items (the rendered
reference and its modification text). Relevance by description: a query carries the group of
every gallery image whose description equals its target's (several ground truths when a twin or
another family's image matches). Each query excludes its reference from its ranking and has its
family's six variants as candidate subset. The held-out styles of the modification text are
native variants of the ``image+text`` items, keyed ``text:<style>`` so that the shift spec
``text:formal@5`` reaches them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qshift.data.base import GeneratedImages, RetrievalDataset
from qshift.data.scenes import STYLES, Scene, render_scene
from qshift.scenes_cir.edits import Description, describe
from qshift.scenes_cir.triplets import FAMILY_COUNTS, VARIANTS, Family, build_family, split_code
from qshift.tasks import ComposedQuery

#: what the dataset reports beside R@1/5/10, r_mean and mAP
METRICS = ("r50", "rsub1", "rsub2", "rsub3", "map@10")
#: images per family in the gallery: the reference and its variants
FAMILY_SIZE = 1 + VARIANTS


class ComposedItems:
    """Composed queries: the gallery image at ``references[i]`` with ``texts[i]``, rendered lazily."""

    def __init__(self, images: Sequence[Any], references: Sequence[int], texts: Sequence[str]):
        if len(references) != len(texts):
            raise ValueError(f"{len(references)} references but {len(texts)} modification texts")
        self.images = images
        self.references = [int(r) for r in references]
        self.texts = list(texts)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> ComposedQuery:
        if not 0 <= index < len(self.texts):
            raise IndexError(index)
        return ComposedQuery(self.images[self.references[index]], self.texts[index])


def build_families(
    split: str, count: int, seed: int = 0, styles: tuple[str, ...] = ("base",)
) -> list[Family]:
    """The first ``count`` families of ``split`` with the texts of ``styles``."""
    split_code(split, seed)
    if count < 1:
        raise ValueError(f"scenes-cir family count must be >= 1, got {count}")
    return [build_family(split, f, seed, styles) for f in range(count)]


def gallery_scenes(families: Sequence[Family]) -> list[Scene]:
    """The gallery's scenes, family by family: the reference, then its variants."""
    return [scene for fam in families for scene in (fam.reference, *fam.variants)]


def relevant_images(families: Sequence[Family]) -> list[np.ndarray]:
    """Per query, every gallery index whose description is its target's."""
    by_description: dict[Description, list[int]] = {}
    for index, scene in enumerate(gallery_scenes(families)):
        by_description.setdefault(describe(scene), []).append(index)
    out = []
    for f, fam in enumerate(families):
        for query in fam.queries:
            target = describe(fam.variants[query.target])
            found = by_description[target]
            if f * FAMILY_SIZE in found:
                raise ValueError(f"family {f}: a query's target has its reference's description")
            out.append(np.asarray(found, dtype=np.int64))
    return out


def scenes_cir_split(split: str, families: int, seed: int = 0, styles: bool = True) -> RetrievalDataset:
    """A ``scenes-cir`` dataset of ``families`` families; ``styles`` adds the held-out text styles."""
    made = build_families(split, families, seed, ("base", *STYLES) if styles else ("base",))
    scenes = gallery_scenes(made)
    images = GeneratedImages(len(scenes), lambda i: render_scene(scenes[i]))
    references = [f * FAMILY_SIZE for f, fam in enumerate(made) for _ in fam.queries]
    subsets = [
        np.arange(f * FAMILY_SIZE + 1, (f + 1) * FAMILY_SIZE)
        for f, fam in enumerate(made)
        for _ in fam.queries
    ]

    def composed(style: str) -> ComposedItems:
        return ComposedItems(images, references, [q.texts[style] for fam in made for q in fam.queries])

    return RetrievalDataset(
        "scenes-cir" if split == "test" else f"scenes-cir:{split}",
        items={"image": images, "image+text": composed("base")},
        groups={"image": np.arange(len(scenes)), "image+text": relevant_images(made)},
        variants={"image+text": {f"text:{s}": composed(s) for s in STYLES}} if styles else None,
        excluded={"cir": [np.array([r]) for r in references]},
        subsets={"cir": subsets},
        metrics=METRICS,
    )


def load_scenes_cir(split: str = "test", seed: int = 0) -> RetrievalDataset:
    """The standard split: test and val 500 families (1,000 queries, 3,500 images), train 4,000."""
    split_code(split, seed)
    return scenes_cir_split(split, FAMILY_COUNTS[split], seed, styles=split != "train")


def load_spec(spec: str, **options: Any) -> RetrievalDataset:
    """``scenes-cir`` (the test split) or ``scenes-cir:<split>``; ``options`` go to the loader."""
    split = spec.partition(":")[2]
    if split:
        options["split"] = split
    return load_scenes_cir(**options)
