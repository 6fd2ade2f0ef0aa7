"""Scene descriptions and the edits of composed retrieval: recolour, reshape, resize, move, add, remove.

A scene's *description* is what relevance is judged on: the multiset of its objects' shape,
colour, size and grid cell (the attributes the scenes captions speak of). The background and
the jitter inside a cell are rendering detail, not description. An :class:`Edit` names one
change relative to the reference scene; :func:`apply_edits` applies one or two of them and
keeps every untouched object exactly as rendered in the reference, so a target looks like
"the same picture" with the named change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qshift.data.scenes import COLOURS, SHAPES, SIZES, Background, Scene, SceneObject

#: every edit kind a modification text can ask for
EDIT_KINDS = ("colour", "shape", "size", "position", "add", "remove")
#: scenes hold 1-3 objects; edits keep them in that range
MAX_OBJECTS = 3
CELLS = 9

#: (shape, colour, size, row, col) of each object, sorted by grid cell
Description = tuple[tuple[str, str, str, int, int], ...]


def describe(scene: Scene) -> Description:
    """The description of ``scene``: its objects' captioned attributes, in grid-cell order."""
    return tuple(
        sorted(((o.shape, o.colour, o.size, o.row, o.col) for o in scene.objects), key=lambda d: d[3:])
    )


@dataclass(frozen=True)
class Edit:
    """One change to a reference scene.

    ``target`` indexes the reference object changed (None for ``add``); ``value`` is the new
    colour, shape or size name, the new grid cell (``position``), the added object (``add``)
    or None (``remove``).
    """

    kind: str
    target: int | None
    value: object = None

    def __post_init__(self) -> None:
        if self.kind not in EDIT_KINDS:
            raise ValueError(f"unknown edit kind {self.kind!r}; expected one of {', '.join(EDIT_KINDS)}")
        if (self.target is None) != (self.kind == "add"):
            raise ValueError(f"a {self.kind} edit {'takes no' if self.kind == 'add' else 'needs a'} target")


def _cell_slack(radius: float) -> float:
    """How far an object of ``radius`` may sit off its cell centre (the generator's rule)."""
    return max(0.0, 1 / 6 - 1.2 * radius - 0.005)


def _place(obj: SceneObject, row: int, col: int, radius: float) -> SceneObject:
    """``obj`` in cell (row, col) with ``radius``, keeping its offset from the cell centre where it fits."""
    slack = _cell_slack(radius)
    dx = float(np.clip(obj.x - (obj.col + 0.5) / 3, -slack, slack))
    dy = float(np.clip(obj.y - (obj.row + 0.5) / 3, -slack, slack))
    return dataclasses.replace(
        obj, row=row, col=col, radius=radius, x=(col + 0.5) / 3 + dx, y=(row + 0.5) / 3 + dy
    )


def _tint(colour: str, rng: np.random.Generator) -> tuple[int, int, int]:
    """The RGB of ``colour`` with the generator's per-object jitter of ±15 per channel."""
    return tuple(int(np.clip(c + rng.integers(-15, 16), 0, 255)) for c in COLOURS[colour])  # type: ignore[return-value]


def new_object(rng: np.random.Generator, cell: int) -> SceneObject:
    """A random object in grid ``cell`` (what an ``add`` edit puts there)."""
    row, col = divmod(cell, 3)
    size = str(rng.choice(list(SIZES)))
    colour = str(rng.choice(list(COLOURS)))
    radius = float(rng.uniform(*SIZES[size]))
    slack = _cell_slack(radius)
    return SceneObject(
        shape=str(rng.choice(SHAPES)),
        colour=colour,
        size=size,
        row=row,
        col=col,
        x=(col + 0.5) / 3 + float(rng.uniform(-slack, slack)),
        y=(row + 0.5) / 3 + float(rng.uniform(-slack, slack)),
        radius=radius,
        angle=float(rng.uniform(-12, 12)),
        rgb=_tint(colour, rng),
    )


def _changed(obj: SceneObject, edit: Edit, rng: np.random.Generator) -> SceneObject:
    """``obj`` after a colour, shape, size or position edit."""
    if edit.kind == "colour":
        return dataclasses.replace(obj, colour=str(edit.value), rgb=_tint(str(edit.value), rng))
    if edit.kind == "shape":
        return dataclasses.replace(obj, shape=str(edit.value))
    if edit.kind == "size":
        size = str(edit.value)
        return dataclasses.replace(_place(obj, obj.row, obj.col, float(rng.uniform(*SIZES[size]))), size=size)
    row, col = divmod(int(edit.value), 3)  # type: ignore[call-overload]
    return _place(obj, row, col, obj.radius)


def apply_edits(scene: Scene, edits: Sequence[Edit], rng: np.random.Generator) -> Scene:
    """``scene`` with ``edits`` (targets index the reference's objects) applied.

    ValueError when the edits clash: two edits of one object's same attribute, an edit of a
    removed object, two objects in one cell, or an object count outside 1..MAX_OBJECTS.
    """
    objects: list[SceneObject | None] = list(scene.objects)
    touched: set[tuple[int, str]] = set()
    for edit in edits:
        if edit.kind == "add":
            objects.append(edit.value)  # type: ignore[arg-type]
            continue
        assert edit.target is not None
        if not 0 <= edit.target < len(scene.objects) or objects[edit.target] is None:
            raise ValueError(f"edit {edit.kind} targets object {edit.target}, which is not there")
        if (edit.target, edit.kind) in touched:
            raise ValueError(f"two {edit.kind} edits of object {edit.target}")
        touched.add((edit.target, edit.kind))
        current = objects[edit.target]
        objects[edit.target] = None if edit.kind == "remove" else _changed(current, edit, rng)  # type: ignore[arg-type]
    kept = [o for o in objects if o is not None]
    cells = [o.row * 3 + o.col for o in kept]
    if len(set(cells)) != len(cells):
        raise ValueError("the edits put two objects in one grid cell")
    if not 1 <= len(kept) <= MAX_OBJECTS:
        raise ValueError(f"the edits leave {len(kept)} objects; scenes hold 1 to {MAX_OBJECTS}")
    return Scene(objects=tuple(sorted(kept, key=lambda o: o.row * 3 + o.col)), background=scene.background)


def free_cells(scene: Scene, taken: Sequence[int] = ()) -> list[int]:
    """Grid cells holding no object of ``scene`` and not in ``taken``."""
    used = {o.row * 3 + o.col for o in scene.objects} | set(taken)
    return [c for c in range(CELLS) if c not in used]


def feasible_kinds(scene: Scene, free_objects: Sequence[int], extra_objects: int = 0) -> list[str]:
    """The edit kinds possible on ``scene`` when only ``free_objects`` may be changed.

    ``extra_objects`` counts objects another edit of the same query adds (+1) or removes (-1).
    """
    count = len(scene.objects) + extra_objects
    kinds = []
    if free_objects:
        kinds += ["colour", "shape", "size"]
        if free_cells(scene):
            kinds.append("position")
        if count > 1:
            kinds.append("remove")
    if count < MAX_OBJECTS and free_cells(scene):
        kinds.append("add")
    return kinds


def random_edit(
    scene: Scene,
    rng: np.random.Generator,
    kind: str,
    target: int | None = None,
    taken_cells: Sequence[int] = (),
    avoid: object = None,
) -> Edit:
    """A random edit of ``kind`` on ``scene`` (of object ``target``; ``add`` takes none).

    New cells avoid the scene's objects and ``taken_cells``; the new value differs from the
    object's current one and from ``avoid`` (a sibling edit's value, for near misses).
    """
    if kind == "add":
        return Edit("add", None, new_object(rng, int(rng.choice(free_cells(scene, taken_cells)))))
    assert target is not None
    obj = scene.objects[target]
    if kind == "remove":
        return Edit("remove", target)
    if kind == "position":
        options = [c for c in free_cells(scene, taken_cells) if c != avoid]
        return Edit("position", target, int(rng.choice(options)))
    current = {"colour": obj.colour, "shape": obj.shape, "size": obj.size}[kind]
    pool = {"colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES)}[kind]
    options = [v for v in pool if v not in (current, avoid)] or [v for v in pool if v != current]
    return Edit(kind, target, str(rng.choice(options)))


def added_cells(edits: Sequence[Edit]) -> list[int]:
    """Grid cells the ``edits`` fill (an added object's cell, a moved object's new cell)."""
    cells = []
    for e in edits:
        if e.kind == "add":
            obj = e.value
            cells.append(obj.row * 3 + obj.col)  # type: ignore[attr-defined]
        elif e.kind == "position":
            cells.append(int(e.value))  # type: ignore[call-overload]
    return cells


def twin(scene: Scene, background: Background, rng: np.random.Generator) -> Scene:
    """Another rendering of ``scene``'s description: new jitter and colour tints, on ``background``."""
    objects = []
    for obj in scene.objects:
        fresh = new_object(rng, obj.row * 3 + obj.col)
        radius = float(rng.uniform(*SIZES[obj.size]))
        placed = _place(fresh, obj.row, obj.col, radius)
        objects.append(
            dataclasses.replace(
                placed, shape=obj.shape, colour=obj.colour, size=obj.size, rgb=_tint(obj.colour, rng)
            )
        )
    return Scene(objects=tuple(objects), background=background)
