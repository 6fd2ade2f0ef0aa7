"""Captions of a scene: what each caption says (a plan) and its wording in one style.

Every image has 5 captions in the *training* style (``base``: many templates and synonyms;
full, partial and relational descriptions). For val/test the same 5 plans are also worded in
five held-out styles (:data:`STYLES`) that serve as native sentence-level query shifts: the
content stays, only the wording changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qshift.scenes.generator import Scene, SceneObject
from qshift.scenes.lexicons import LEXICONS, pick

CAPTIONS_PER_IMAGE = 5
STYLES = ("formal", "casual", "passive", "active", "back_translation")


@dataclass(frozen=True)
class CaptionPlan:
    """What one caption says, independent of its wording.

    ``objects`` indexes the scene objects mentioned (in mention order); ``relation`` (for
    relational captions) relates the first two; the flags choose the optional details.
    """

    objects: tuple[int, ...]
    sizes: tuple[bool, ...]
    positions: tuple[bool, ...]
    relation: str | None = None
    count: bool = False
    background: bool = False


def _relation(a: SceneObject, b: SceneObject, rng: np.random.Generator) -> str | None:
    """A true spatial relation of ``a`` to ``b`` ("above", "below", "left", "right")."""
    options = []
    if a.row != b.row:
        options.append("above" if a.row < b.row else "below")
    if a.col != b.col:
        options.append("left" if a.col < b.col else "right")
    return str(rng.choice(options)) if options else None


def _plan(scene: Scene, kind: str, rng: np.random.Generator) -> CaptionPlan:
    """A caption plan of ``kind`` ("full", "partial" or "relation") for ``scene``."""
    n = len(scene.objects)
    order = [int(i) for i in rng.permutation(n)]
    relation = None
    if kind == "relation" and n >= 2:
        relation = _relation(scene.objects[order[0]], scene.objects[order[1]], rng)
        keep = 2 + int(n == 3 and rng.random() < 0.4)
        order = order[:keep]
    elif kind == "partial" and n >= 2:
        order = order[: int(rng.integers(1, n))]
    with_positions = relation is None and (kind == "partial" or rng.random() < 0.65)
    return CaptionPlan(
        objects=tuple(order),
        sizes=tuple(bool(rng.random() < 0.5) for _ in order),
        positions=tuple(with_positions and bool(rng.random() < 0.85) for _ in order),
        relation=relation,
        count=kind == "full" and n >= 2 and bool(rng.random() < 0.3),
        background=bool(rng.random() < 0.3),
    )


def caption_plans(scene: Scene, rng: np.random.Generator) -> list[CaptionPlan]:
    """The 5 caption plans of a scene: full descriptions, one partial and one relational."""
    kinds = ["full", "full", "full", "partial", "relation"] if len(scene.objects) >= 2 else ["full"] * 5
    return [_plan(scene, kind, rng) for kind in kinds]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class _Writer:
    """Renders caption plans of one scene in one style."""

    def __init__(self, scene: Scene, style: str, rng: np.random.Generator):
        self.scene = scene
        self.style = style
        self.rng = rng
        self.lex = LEXICONS.get(style, LEXICONS["base"])

    def noun(self, index: int, with_size: bool, article: bool = True) -> str:
        """ "a large red star" in this style's vocabulary."""
        obj = self.scene.objects[index]
        words = [pick(self.rng, self.lex.sizes[obj.size])] if with_size else []
        words += [pick(self.rng, self.lex.colours[obj.colour]), pick(self.rng, self.lex.shapes[obj.shape])]
        phrase = " ".join(words)
        return f"{_article(phrase)} {phrase}" if article else phrase

    def items(self, plan: CaptionPlan) -> list[str]:
        """Noun phrase of every mentioned object, followed by its place when the plan says so."""
        return [
            self.noun(i, s) + (f" {self.place(i)}" if p else "")
            for i, s, p in zip(plan.objects, plan.sizes, plan.positions, strict=True)
        ]

    def place(self, index: int) -> str:
        obj = self.scene.objects[index]
        return self.lex.positions(obj.row, obj.col, self.rng)

    def background(self) -> str:
        return pick(self.rng, self.lex.backgrounds[self.scene.background.kind])

    def pick(self, *options: str) -> str:
        return pick(self.rng, options)


def _join(parts: Sequence[str], last: str = " and ") -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + last + parts[-1]


_NUMBERS = {2: "two", 3: "three"}
_BASE_RELATIONS = {
    "above": ("above", "over"),
    "below": ("below", "under", "beneath"),
    "left": ("to the left of", "left of"),
    "right": ("to the right of", "right of"),
}


def _base_caption(w: _Writer, plan: CaptionPlan) -> str:
    """Training style: noun phrases, "there is/are", "an image of" and relation words."""
    items = w.items(plan)
    if plan.relation is not None:
        body = f"{items[0]} {w.pick(*_BASE_RELATIONS[plan.relation])} {items[1]}"
        if len(items) > 2:
            body += w.pick(" and ", " plus ", " with ") + items[2]
    else:
        body = _join(items, w.pick(" and ", " and ", " with "))
    n = len(plan.objects)
    if plan.count:
        prefix = f"{_NUMBERS[n]} {w.pick('shapes', 'objects', 'figures')}: "
    else:
        verb = "there is " if n == 1 and plan.relation is None else "there are "
        prefix = w.pick("", "", "an image of ", "a picture of ", "a drawing of ", "a picture with ", verb)
    if prefix == "there are " and plan.relation is not None:
        prefix = ""
    suffix = f" {w.pick('on', 'over', 'with')} a {w.background()} background" if plan.background else ""
    return prefix + body + suffix


def _formal_caption(w: _Writer, plan: CaptionPlan) -> str:
    items = w.items(plan)
    if plan.relation is not None:
        rel = {
            "above": "situated directly above",
            "below": "situated directly beneath",
            "left": "positioned to the left of",
            "right": "positioned to the right of",
        }[plan.relation]
        body = f"{items[0]} {rel} {items[1]}"
        if len(items) > 2:
            body += f", together with {items[2]}"
    else:
        body = _join(items, w.pick(", together with ", ", accompanied by "))
    opener = w.pick("The image depicts ", "This illustration features ", "The composition presents ")
    if plan.count:
        opener = f"The composition comprises {_NUMBERS[len(items)]} figures: "
    suffix = f", set against a {w.background()} backdrop" if plan.background else ""
    return f"{opener}{body}{suffix}."


def _casual_caption(w: _Writer, plan: CaptionPlan) -> str:
    items = w.items(plan)
    if plan.relation is not None:
        rel = {
            "above": "chillin above",
            "below": "hangin under",
            "left": "just left of",
            "right": "just right of",
        }
        body = f"{items[0]} {rel[plan.relation]} {items[1]}"
        if len(items) > 2:
            body += f" n {items[2]}"
    else:
        body = _join(items, w.pick(" n ", " and also ", " plus like "))
    opener = w.pick("so there's ", "ok so ", "lol just ", "basically ", "yo ")
    if plan.count:
        opener = f"ok so {_NUMBERS[len(items)]} things: "
    suffix = f" on some {w.background()} bg" if plan.background else ""
    return opener + body + suffix + w.pick("", " lol", " haha", " i guess")


def _passive_caption(w: _Writer, plan: CaptionPlan) -> str:
    verbs = ("is drawn", "is painted", "is placed", "can be seen", "is depicted")
    if plan.relation is not None:
        rel = {"above": "above", "below": "below", "left": "to the left of", "right": "to the right of"}
        body = f"{w.noun(plan.objects[0], plan.sizes[0])} {w.pick(*verbs)} {rel[plan.relation]} "
        body += w.noun(plan.objects[1], plan.sizes[1])
        if len(plan.objects) > 2:
            body += f", and {w.noun(plan.objects[2], plan.sizes[2])} {w.pick(*verbs)} as well"
    else:
        clauses = [
            f"{w.noun(i, s)} {w.pick(*verbs)}" + (f" {w.place(i)}" if p else "")
            for i, s, p in zip(plan.objects, plan.sizes, plan.positions, strict=True)
        ]
        body = _join(clauses, ", and ")
    if plan.count:
        body = f"{_NUMBERS[len(plan.objects)]} shapes are shown: {body}"
    suffix = f", all drawn on a {w.background()} background" if plan.background else ""
    return body + suffix


def _active_caption(w: _Writer, plan: CaptionPlan) -> str:
    items = w.items(plan)
    if plan.relation is not None:
        verb = {
            "above": "hovers above",
            "below": "sits beneath",
            "left": "stands left of",
            "right": "stands right of",
        }
        body = f"{items[0]} {verb[plan.relation]} {items[1]}"
        if len(items) > 2:
            body += f" while {items[2]} watches"
        suffix = (
            f", and the artist filled the background with a {w.background()} pattern"
            if plan.background
            else ""
        )
        return body + suffix
    agent = w.pick("someone drew ", "an artist painted ", "the illustrator placed ", "a child sketched ")
    if plan.count:
        agent = f"the artist drew {_NUMBERS[len(items)]} shapes: "
    suffix = f" and covered the background with a {w.background()} pattern" if plan.background else ""
    return agent + _join(items) + suffix


def _bt_caption(w: _Writer, plan: CaptionPlan) -> str:
    """Back-translation artefacts: fronted places, dropped articles, rarer synonyms, odd prepositions."""
    items = []
    for i, s, p in zip(plan.objects, plan.sizes, plan.positions, strict=True):
        noun = w.noun(i, s, article=w.rng.random() < 0.5)
        if noun.startswith(("a ", "an ")) and w.rng.random() < 0.3:
            noun = "one " + noun.split(" ", 1)[1]
        items.append(
            f"{w.place(i)} {noun}" if p and w.rng.random() < 0.6 else (f"{noun} {w.place(i)}" if p else noun)
        )
    if plan.relation is not None:
        rel = {"above": "above of", "below": "under of", "left": "left from", "right": "right from"}
        body = f"{items[0]} {rel[plan.relation]} {items[1]}"
        if len(items) > 2:
            body += f", besides {items[2]}"
    else:
        body = _join(items, w.pick(" and ", ", and also ", " as well as "))
    opener = w.pick("it gives ", "one sees ", "to see is ", "", "")
    if plan.count:
        opener = f"it gives {_NUMBERS[len(items)]} forms: "
    suffix = f" before {w.background()} background" if plan.background else ""
    return opener + body + suffix


_STYLE_WRITERS: dict[str, Callable[[_Writer, CaptionPlan], str]] = {
    "base": _base_caption,
    "formal": _formal_caption,
    "casual": _casual_caption,
    "passive": _passive_caption,
    "active": _active_caption,
    "back_translation": _bt_caption,
}


def write_caption(scene: Scene, plan: CaptionPlan, style: str, rng: np.random.Generator) -> str:
    """Word ``plan`` in ``style`` ("base" = the training style, or one of STYLES)."""
    if style not in _STYLE_WRITERS:
        raise ValueError(f"unknown caption style {style!r}; expected 'base' or one of {', '.join(STYLES)}")
    return _STYLE_WRITERS[style](_Writer(scene, style, rng), plan)
