"""Modification texts: one or two edits of a reference scene, worded in one style.

An edited object is named by a referring expression that picks it out among the reference's
objects ("the circle", "the red one", "the small blue star", "the shape in the top left");
which of the unambiguous expressions is drawn at random. Each edit kind has many phrasings per
style; two edits are joined by the style's connectives. ``base`` texts are the training style;
the held-out styles are the benchmark's native sentence-level shifts of the modification.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qshift.data.scenes import Scene, SceneObject
from qshift.scenes_cir.edits import Edit
from qshift.scenes_cir.words import ALL_STYLES, WORDS, Words, article, pick

#: referring-expression forms: the attributes each names
_REFERENCES = (
    ("shape",),
    ("colour", "shape"),
    ("size", "colour", "shape"),
    ("size", "shape"),
    ("colour",),
    ("shape", "place"),
    ("place",),
)


def _matches(obj: SceneObject, ref: SceneObject, form: Sequence[str]) -> bool:
    keys = {"shape": "shape", "colour": "colour", "size": "size"}
    same = all(getattr(obj, keys[a]) == getattr(ref, keys[a]) for a in form if a in keys)
    return same and ("place" not in form or (obj.row, obj.col) == (ref.row, ref.col))


def reference_forms(scene: Scene, index: int) -> list[tuple[str, ...]]:
    """The referring-expression forms that single out object ``index`` of ``scene``."""
    target = scene.objects[index]
    return [form for form in _REFERENCES if sum(_matches(o, target, form) for o in scene.objects) == 1]


def refer(scene: Scene, index: int, words: Words, rng: np.random.Generator, bare: bool = False) -> str:
    """An unambiguous name of object ``index`` ("the red circle"), without "the" when ``bare``."""
    obj = scene.objects[index]
    form = _pick_form(reference_forms(scene, index), rng)
    nouns = []
    if "size" in form:
        nouns.append(words.size(obj.size, rng))
    if "colour" in form:
        nouns.append(words.colour(obj.colour, rng))
    nouns.append(words.shape(obj.shape, rng) if "shape" in form else pick(rng, words.things))
    phrase = " ".join(nouns)
    if "place" in form:
        phrase += f" {words.location(obj.row, obj.col, rng)}"
    return phrase if bare else f"the {phrase}"


def _pick_form(forms: list[tuple[str, ...]], rng: np.random.Generator) -> tuple[str, ...]:
    return forms[int(rng.integers(len(forms)))]


def _noun(obj: SceneObject, words: Words, rng: np.random.Generator) -> str:
    """ "a small red star": every attribute of an added object but its place."""
    return article(
        f"{words.size(obj.size, rng)} {words.colour(obj.colour, rng)} {words.shape(obj.shape, rng)}"
    )


def _slots(scene: Scene, edit: Edit, words: Words, rng: np.random.Generator) -> dict[str, str]:
    """The words an edit's templates fill: R (the object), C, S, P, L or N, as the kind needs."""
    slots: dict[str, str] = {}
    if edit.target is not None:
        slots["R"] = refer(scene, edit.target, words, rng)
    if edit.kind == "colour":
        slots["C"] = words.colour(str(edit.value), rng)
    elif edit.kind == "shape":
        slots["S"] = article(words.shape(str(edit.value), rng))
    elif edit.kind == "position":
        row, col = divmod(int(edit.value), 3)  # type: ignore[call-overload]
        slots["P"], slots["L"] = words.place(row, col, rng), words.location(row, col, rng)
    elif edit.kind == "add":
        obj: SceneObject = edit.value  # type: ignore[assignment]
        slots["N"] = _noun(obj, words, rng)
        slots["L"] = words.location(obj.row, obj.col, rng)
    return slots


def _kind_key(edit: Edit) -> str:
    """The template family of an edit: size edits split into growing and shrinking."""
    if edit.kind != "size":
        return edit.kind
    return "grow" if edit.value == "large" else "shrink"


# Per style and edit kind: clause templates. In ``base``, ``formal``, ``casual`` and
# ``back_translation`` they are imperative verb phrases; ``passive`` and ``active`` write clauses.
_CLAUSES: dict[str, dict[str, tuple[str, ...]]] = {
    "base": {
        "colour": (
            "make {R} {C}",
            "change {R} to {C}",
            "turn {R} {C}",
            "paint {R} {C}",
            "colour {R} {C}",
            "recolour {R} {C}",
            "change the colour of {R} to {C}",
            "make {R} {C} instead",
        ),
        "shape": (
            "replace {R} with {S}",
            "turn {R} into {S}",
            "change {R} into {S}",
            "make {R} {S}",
            "swap {R} for {S}",
            "change the shape of {R} to {S}",
            "draw {S} instead of {R}",
        ),
        "grow": (
            "make {R} bigger",
            "enlarge {R}",
            "make {R} larger",
            "increase the size of {R}",
            "scale up {R}",
        ),
        "shrink": (
            "make {R} smaller",
            "shrink {R}",
            "reduce the size of {R}",
            "scale down {R}",
            "make {R} little",
        ),
        "position": (
            "move {R} to {P}",
            "put {R} {L}",
            "shift {R} to {P}",
            "place {R} {L}",
            "drag {R} to {P}",
            "move {R} over to {P}",
        ),
        "add": (
            "add {N} {L}",
            "put {N} {L}",
            "include {N} {L}",
            "insert {N} {L}",
            "draw {N} {L}",
            "also draw {N} {L}",
        ),
        "remove": (
            "remove {R}",
            "delete {R}",
            "take away {R}",
            "get rid of {R}",
            "erase {R}",
            "drop {R}",
            "leave out {R}",
            "take out {R}",
        ),
    },
    "formal": {
        "colour": (
            "alter the colour of {R} to {C}",
            "render {R} in {C}",
            "recolour {R} so that it appears {C}",
        ),
        "shape": ("substitute {S} for {R}", "transform {R} into {S}", "exchange {R} for {S}"),
        "grow": ("increase the dimensions of {R}", "render {R} at a larger scale", "magnify {R}"),
        "shrink": ("reduce the dimensions of {R}", "render {R} at a smaller scale", "diminish {R}"),
        "position": ("relocate {R} to {P}", "reposition {R} to {P}", "transfer {R} to {P}"),
        "add": ("introduce {N} {L}", "incorporate {N} {L}", "position {N} {L}"),
        "remove": ("eliminate {R}", "omit {R} from the composition", "withdraw {R} from the image"),
    },
    "casual": {
        "colour": ("make {R} {C}", "slap some {C} on {R}", "go {C} on {R}", "dye {R} {C}"),
        "shape": ("swap {R} for {S} thing", "turn {R} into {S} thingy", "make {R} {S} instead"),
        "grow": ("make {R} way bigger", "blow up {R}", "beef up {R}", "make {R} chunky"),
        "shrink": ("make {R} tiny", "shrink {R} down", "make {R} lil", "squish {R} smaller"),
        "position": ("scoot {R} to {P}", "yeet {R} over to {P}", "stick {R} {L}", "slide {R} to {P}"),
        "add": ("throw in {N} {L}", "stick {N} {L}", "chuck {N} {L}", "slap {N} {L}"),
        "remove": ("ditch {R}", "lose {R}", "nuke {R}", "toss {R}", "kill {R}"),
    },
    "passive": {
        "colour": ("{R} should be coloured {C}", "{R} is to be painted {C}", "{R} has been turned {C}"),
        "shape": ("{R} is replaced by {S}", "{R} should be turned into {S}", "{R} has been swapped for {S}"),
        "grow": ("{R} is made bigger", "{R} should be enlarged", "{R} has been scaled up"),
        "shrink": ("{R} is made smaller", "{R} should be shrunk", "{R} has been scaled down"),
        "position": ("{R} is moved to {P}", "{R} should be shifted to {P}", "{R} has been placed {L}"),
        "add": ("{N} is added {L}", "{N} should be placed {L}", "{N} has been drawn {L}"),
        "remove": ("{R} is removed", "{R} should be taken away", "{R} has been erased"),
    },
    "active": {
        "colour": ("paints {R} {C}", "recolours {R} in {C}", "dyes {R} {C}"),
        "shape": ("turns {R} into {S}", "swaps {R} for {S}", "redraws {R} as {S}"),
        "grow": ("enlarges {R}", "makes {R} bigger", "scales up {R}"),
        "shrink": ("shrinks {R}", "makes {R} smaller", "scales down {R}"),
        "position": ("moves {R} to {P}", "drags {R} over to {P}", "carries {R} to {P}"),
        "add": ("adds {N} {L}", "draws {N} {L}", "paints {N} {L}"),
        "remove": ("erases {R}", "removes {R}", "wipes out {R}"),
    },
    "back_translation": {
        "colour": ("make {C} {R}", "change {R} in {C}", "colour {R} into {C}", "give {R} the colour {C}"),
        "shape": ("replace {R} through {S}", "make from {R} {S}", "exchange {R} against {S}"),
        "grow": ("make greater {R}", "make {R} more big", "enlarge {R} more"),
        "shrink": ("make smaller {R}", "make {R} more little", "make {R} less big"),
        "position": ("move {R} to {P}", "bring {R} after {P}", "displace {R} to {P}"),
        "add": ("add {N} {L}", "give additionally {N} {L}", "put in addition {N} {L}"),
        "remove": ("remove away {R}", "take {R} away from", "let fall {R}"),
    },
}

#: single-edit sentences (clause -> text) and double-edit joins, per style
_SINGLE: dict[str, tuple[str, ...]] = {
    "base": ("{0}", "{0}", "{0}", "now {0}", "same scene but {0}", "the same picture, but {0}", "just {0}"),
    "formal": ("Please {0}.", "Kindly {0}.", "It is requested that you {0}.", "We ask that you {0}."),
    "casual": ("ok so {0}", "can u {0}", "just {0} lol", "{0} pls", "yo {0}", "{0} haha"),
    "passive": ("{0}", "in the new picture {0}", "{0} in this version"),
    "active": ("someone {0}", "the artist {0}", "an illustrator {0}", "a child {0}"),
    "back_translation": ("{0}", "one should {0}", "it is to {0}", "please to {0}"),
}
_DOUBLE: dict[str, tuple[str, ...]] = {
    "base": ("{0} and {1}", "{0}, then {1}", "{0} and also {1}", "{0}; {1}", "{0}, and {1} too"),
    "formal": (
        "Please {0}, and subsequently {1}.",
        "Kindly {0}; in addition, {1}.",
        "Please {0} as well as {1}.",
    ),
    "casual": ("ok so {0} n {1}", "{0} and also {1} lol", "can u {0} and {1} pls", "yo {0}, {1}"),
    "passive": ("{0}, and {1}", "{0}; moreover {1}", "{0} while {1}"),
    "active": ("someone {0} and {1}", "the artist {0}, then {1}", "an illustrator {0} and also {1}"),
    "back_translation": ("{0} and also {1}", "{0}, besides {1}", "one should {0} and {1}"),
}


def modification_text(scene: Scene, edits: Sequence[Edit], style: str, rng: np.random.Generator) -> str:
    """The modification text asking for ``edits`` of ``scene`` in ``style`` (one or two edits)."""
    if style not in ALL_STYLES:
        raise ValueError(f"unknown modification style {style!r}; expected one of {', '.join(ALL_STYLES)}")
    if not 1 <= len(edits) <= 2:
        raise ValueError(f"a modification text asks for one or two edits, got {len(edits)}")
    words = WORDS[style]
    clauses = [_clause(scene, edit, style, words, rng) for edit in edits]
    frame = pick(rng, _SINGLE[style] if len(clauses) == 1 else _DOUBLE[style])
    return frame.format(*clauses)


def _clause(scene: Scene, edit: Edit, style: str, words: Words, rng: np.random.Generator) -> str:
    template = pick(rng, _CLAUSES[style][_kind_key(edit)])
    return template.format_map(_slots(scene, edit, words, rng))
