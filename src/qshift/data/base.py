"""The RetrievalDataset every data source produces.

Relevance is expressed by *groups*: image i and text j are relevant to each other when
``image_groups[i] == text_groups[j]``. One-to-many (COCO: an image and its 5 captions) sets
the image's group to its index; many-to-many (Fashion-Gen products, PEDES person ids) uses
the shared id; a query with several ground truths (CIRCO) carries several groups. Other
modalities (audio, video, composed image+text queries) follow the same rule. Images are
loaded lazily, one file at a time, by an :class:`ImageSource`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from qshift.tasks import get_task

#: baseline softmax temperature over the gallery by dataset family (method.md §3)
DEFAULT_TEMPERATURE = 0.01


class ImageSource:
    """Lazy, indexable collection of H×W×3 uint8 RGB images."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> np.ndarray:
        raise NotImplementedError


class ImageFiles(ImageSource):
    """Images read from ``root / relative_path`` on demand; bad files are reported by path."""

    def __init__(self, root: str | Path, paths: Sequence[str]):
        self.root = Path(root)
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def path(self, index: int) -> Path:
        """Absolute path of image ``index``."""
        return self.root / self.paths[index]

    def __getitem__(self, index: int) -> np.ndarray:
        path = self.path(index)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"unreadable image file: {path} ({err})") from err


class GeneratedImages(ImageSource):
    """Images produced on demand by a function of the index (the procedural scenes)."""

    def __init__(self, count: int, render: Callable[[int], np.ndarray]):
        self.count = count
        self.render = render

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.render(index)


def take(items: Sequence[Any], indices: Sequence[int]) -> Sequence[Any]:
    """The items at ``indices``: a list for a list (captions), else a lazy :class:`ItemSubset`."""
    if isinstance(items, list):
        return [items[int(i)] for i in indices]
    return ItemSubset(items, indices)


def per_query_rows(per_query: Sequence[np.ndarray] | None, rows: Sequence[int]) -> list[np.ndarray] | None:
    """A per-query option (:attr:`RetrievalDataset.excluded` or ``subsets`` of a task) for the
    queries ``rows`` of a batch; None when the task has none."""
    return [per_query[i] for i in rows] if per_query is not None else None


class ItemSubset:
    """The items of ``source`` at ``indices``, in that order (lazy: nothing is loaded here)."""

    def __init__(self, source: Sequence[Any], indices: Sequence[int]):
        self.source = source
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.source[self.indices[index]]


#: group ids of one modality's items: one per item, or several per item (a query relevant to
#: the gallery items of any of its groups, e.g. CIRCO's several ground truths)
Groups = np.ndarray | list[np.ndarray]


def _check_groups(groups: Any, count: int, where: str) -> Groups:
    """``groups`` as an int64 array of ``count`` ids, or a list of ``count`` int64 arrays."""
    if isinstance(groups, list) and any(np.ndim(g) == 1 for g in groups):
        if len(groups) != count:
            raise ValueError(f"{where} must have one entry per item ({count}), got {len(groups)}")
        return [np.asarray(g, dtype=np.int64).reshape(-1) for g in groups]
    array = np.asarray(groups, dtype=np.int64)
    if array.shape != (count,):
        raise ValueError(f"{where} must have one entry per item ({count}), got shape {array.shape}")
    return array


def owned_texts(
    captions: Sequence[Sequence[str]], max_captions: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Flatten per-item caption lists: (texts, the item each text belongs to, as its group).

    Item ``i`` keeps its first ``max_captions`` captions (None: all of them).
    """
    if max_captions is not None and max_captions < 1:
        raise ValueError(f"max_captions must be >= 1 or None, got {max_captions}")
    texts: list[str] = []
    groups: list[int] = []
    for group, own in enumerate(captions):
        kept = list(own[:max_captions])
        texts += kept
        groups += [group] * len(kept)
    return texts, np.asarray(groups, dtype=np.int64)


def select(groups: Groups, indices: np.ndarray) -> Groups:
    """The group entries at ``indices``."""
    if isinstance(groups, np.ndarray):
        return groups[indices]
    return [groups[i] for i in indices]


class RetrievalDataset:
    """Items of one or more modalities, their relevance as groups, and per-task query options.

    - ``items``: modality → an indexable sequence of raw items (loaded lazily where it matters:
      image files, generated scenes, clips).
    - ``groups``: modality → group ids; an item of one modality is relevant to an item of
      another when they share a group. A query may carry several groups (many ground truths);
      a gallery item carries one.
    - ``variants``: modality → native shift name → items aligned with ``items[modality]``: the
      dataset's own rendering of that shift (the scenes caption styles), used instead of a
      perturbation function.
    - ``excluded``: task → per query, gallery indices left out of its ranking (the reference
      image of a composed query); ``subsets``: task → per query, its candidate subset
      (CIRR's Recall_subset).
    - ``metrics``: extra metric names this dataset reports (``r50``, ``rsub1``, ``map@10``, …).

    The image–text keywords (``images``, ``texts``, ``image_groups``, ``text_groups``,
    ``text_variants``) build the common two-modality case and stay readable as properties.
    """

    def __init__(
        self,
        name: str,
        images: Sequence[Any] | None = None,
        texts: Sequence[str] | None = None,
        image_groups: Any = None,
        text_groups: Any = None,
        temperature: float = DEFAULT_TEMPERATURE,
        text_variants: dict[str, list[str]] | None = None,
        *,
        items: dict[str, Sequence[Any]] | None = None,
        groups: dict[str, Any] | None = None,
        variants: dict[str, dict[str, Sequence[Any]]] | None = None,
        excluded: dict[str, list[np.ndarray]] | None = None,
        subsets: dict[str, list[np.ndarray]] | None = None,
        metrics: Sequence[str] = (),
    ):
        self.name = name
        self.temperature = temperature
        self.items: dict[str, Sequence[Any]] = dict(items or {})
        raw_groups = dict(groups or {})
        self.variants = {m: dict(v) for m, v in (variants or {}).items()}
        for modality, sequence, ids in (("image", images, image_groups), ("text", texts, text_groups)):
            if sequence is not None:
                self.items[modality] = sequence
                raw_groups[modality] = ids
        if text_variants:
            self.variants.setdefault("text", {}).update(text_variants)
        self.excluded = {
            t: [np.asarray(e, dtype=np.int64).reshape(-1) for e in v] for t, v in (excluded or {}).items()
        }
        self.subsets = {
            t: [np.asarray(e, dtype=np.int64).reshape(-1) for e in v] for t, v in (subsets or {}).items()
        }
        self.metrics = tuple(metrics)
        self.groups: dict[str, Groups] = {}
        if not self.items:
            raise ValueError(f"dataset {name!r} has no items")
        for modality, sequence in self.items.items():
            if len(sequence) == 0:
                raise ValueError(f"dataset {name!r} has no {modality} items")
            if raw_groups.get(modality) is None:
                raise ValueError(f"dataset {name!r}: {modality} items need groups")
            self.groups[modality] = _check_groups(raw_groups[modality], len(sequence), f"{modality} groups")
        for modality, shifts in self.variants.items():
            for shift, variant in shifts.items():
                if len(variant) != len(self.items.get(modality, ())):
                    raise ValueError(
                        f"dataset {name!r}: {modality} variant {shift!r} is not aligned with its items"
                    )
        for option, per_task in (("excluded", self.excluded), ("subsets", self.subsets)):
            for task, entries in per_task.items():
                query = get_task(task).query
                if len(entries) != len(self.items.get(query, ())):
                    raise ValueError(
                        f"dataset {name!r}: {option}[{task!r}] must have one entry per {query} query"
                    )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{len(v)} {m}" for m, v in self.items.items())
        return f"RetrievalDataset({self.name!r}: {sizes})"

    # -- the image–text view ---------------------------------------------------------------
    @property
    def images(self) -> Sequence[Any]:
        return self.items["image"]

    @property
    def texts(self) -> Sequence[str]:
        return self.items["text"]

    @property
    def image_groups(self) -> Groups:
        return self.groups["image"]

    @property
    def text_groups(self) -> Groups:
        return self.groups["text"]

    @property
    def text_variants(self) -> dict[str, Sequence[str]]:
        return self.variants.get("text", {})

    @property
    def num_images(self) -> int:
        return len(self.images)

    @property
    def num_texts(self) -> int:
        return len(self.texts)

    # -- subsets ---------------------------------------------------------------------------
    def count(self, modality: str) -> int:
        """Number of items of ``modality`` (0 when it has none)."""
        return len(self.items.get(modality, ()))

    def subset(self, modality: str, indices: Sequence[int]) -> RetrievalDataset:
        """A copy keeping only the ``modality`` items at ``indices`` (the other modalities whole).

        Used to pick a query subset while the gallery stays whole; the per-query options of the
        tasks that query this modality are cut to the same queries.
        """
        total = self.count(modality)
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= total:
            raise ValueError(f"dataset {self.name!r}: {modality} indices must lie in [0, {total})")
        items, groups = dict(self.items), dict(self.groups)
        items[modality] = take(self.items[modality], idx.tolist())
        groups[modality] = select(self.groups[modality], idx)
        variants = {m: dict(v) for m, v in self.variants.items()}
        variants[modality] = {
            k: ItemSubset(v, idx.tolist()) for k, v in self.variants.get(modality, {}).items()
        }

        def cut(per_task: dict[str, list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
            return {
                t: [e[i] for i in idx] if get_task(t).query == modality else e for t, e in per_task.items()
            }

        return RetrievalDataset(
            self.name,
            temperature=self.temperature,
            items=items,
            groups=groups,
            variants=variants,
            excluded=cut(self.excluded),
            subsets=cut(self.subsets),
            metrics=self.metrics,
        )

    def subset_images(self, indices: Sequence[int]) -> RetrievalDataset:
        """A copy keeping only the images at ``indices`` (captions untouched)."""
        return self.subset("image", indices)

    def subset_texts(self, indices: Sequence[int]) -> RetrievalDataset:
        """A copy keeping only the captions at ``indices`` (images untouched)."""
        return self.subset("text", indices)
