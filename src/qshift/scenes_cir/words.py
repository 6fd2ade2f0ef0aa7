"""The vocabulary of modification texts per style: object words, sizes and grid places.

``base`` is the training style; the five held-out styles of the scenes captions (formal,
casual, passive, active, back-translation) each get their own words where the style has them
(passive and active voice change the syntax, not the words). A place is a grid cell named as a
noun phrase ("the top left") or a locative phrase ("in the top left").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qshift.data.scenes import COLOURS, COLS, ROWS, SHAPES, STYLES
from qshift.scenes.lexicons import RARE_COLOURS, RARE_SHAPES

#: the training style and the held-out styles
ALL_STYLES = ("base", *STYLES)


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    """One of ``options``, drawn from ``rng``."""
    return options[int(rng.integers(len(options)))]


def article(phrase: str) -> str:
    """``phrase`` with "a" or "an" in front."""
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


@dataclass(frozen=True)
class Words:
    """One style's words: synonyms of each shape, colour and size, and names of the grid cells."""

    shapes: dict[str, tuple[str, ...]]
    colours: dict[str, tuple[str, ...]]
    sizes: dict[str, tuple[str, ...]]
    #: cell (row, col) -> noun phrases ("the top left") and locative phrases ("in the top left")
    places: dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]]
    #: generic nouns for "the red one" references
    things: tuple[str, ...]

    def shape(self, name: str, rng: np.random.Generator) -> str:
        return pick(rng, self.shapes[name])

    def colour(self, name: str, rng: np.random.Generator) -> str:
        return pick(rng, self.colours[name])

    def size(self, name: str, rng: np.random.Generator) -> str:
        return pick(rng, self.sizes[name])

    def place(self, row: int, col: int, rng: np.random.Generator) -> str:
        """A noun phrase naming the cell, for "move ... to <place>"."""
        return pick(rng, self.places[(row, col)][0])

    def location(self, row: int, col: int, rng: np.random.Generator) -> str:
        """A locative phrase for the cell, for "... <location>"."""
        return pick(rng, self.places[(row, col)][1])


def _base_places() -> dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]]:
    out = {}
    for row, r in enumerate(ROWS):
        for col, c in enumerate(COLS):
            vert = "upper" if r == "top" else "lower"
            if (r, c) == ("middle", "centre"):
                nouns = ("the centre", "the middle", "the center")
                locs = ("in the centre", "in the middle", "at the center")
            elif r == "middle":
                nouns = (f"the {c}", f"the {c} side", f"the middle {c}")
                locs = (f"on the {c}", f"on the {c} side", f"at the middle {c}")
            elif c == "centre":
                nouns = (f"the {r}", f"the {r} middle", f"the {r} centre")
                locs = (f"at the {r}", f"in the {r} middle", f"at the {r} centre")
            else:
                nouns = (f"the {r} {c}", f"the {vert} {c}", f"the {r}-{c} corner", f"the {r} {c} corner")
                locs = (f"in the {r} {c}", f"in the {vert} {c}", f"in the {r}-{c} corner", f"at the {r} {c}")
            out[(row, col)] = (nouns, locs)
    return out


def _formal_places() -> dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]]:
    rows = {"top": "upper", "middle": "central", "bottom": "lower"}
    cols = {"left": "left-hand", "centre": "central", "right": "right-hand"}
    out = {}
    for row, r in enumerate(ROWS):
        for col, c in enumerate(COLS):
            if (row, col) == (1, 1):
                region = ("the centre of the frame", "the central position of the composition")
            elif row == 1:
                region = (f"the {cols[c]} side of the frame", f"the {cols[c]} edge of the composition")
            elif col == 1:
                region = (f"the {rows[r]} central region", f"the {rows[r]} portion of the frame")
            else:
                region = (f"the {rows[r]} {cols[c]} region", f"the {rows[r]} {cols[c]} quadrant")
            out[(row, col)] = (
                region,
                tuple(f"within {p}" for p in region) + tuple(f"in {p}" for p in region),
            )
    return out


def _casual_places() -> dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]]:
    rows = {"top": "up top", "middle": "", "bottom": "down low"}
    cols = {"left": "on the left", "centre": "", "right": "over on the right"}
    out = {}
    for row, r in enumerate(ROWS):
        for col, c in enumerate(COLS):
            if (row, col) == (1, 1):
                nouns = ("the middle", "the dead centre")
                locs = ("smack in the middle", "right in the middle")
            else:
                spot = " ".join(p for p in (rows[r], cols[c]) if p)
                short = {"top": "top", "middle": "", "bottom": "bottom"}[r] + (
                    f" {c}" if c != "centre" else ""
                )
                nouns = (f"the {short.strip()}ish bit", f"the {short.strip()} spot")
                locs = (spot, f"kinda {spot}", f"like {spot}")
            out[(row, col)] = (nouns, locs)
    return out


def _bt_places() -> dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]]:
    rows = {"top": "above", "middle": "middle", "bottom": "below"}
    cols = {"left": "left", "centre": "middle", "right": "right"}
    out = {}
    for row, r in enumerate(ROWS):
        for col, c in enumerate(COLS):
            if (row, col) == (1, 1):
                nouns = ("the midst", "centre", "middle")
                locs = ("in the midst", "in centre", "at middle")
            elif row == 1:
                nouns = (f"the {cols[c]} side", f"{cols[c]}")
                locs = (f"at the {cols[c]} side", f"on {cols[c]}")
            elif col == 1:
                nouns = (f"{rows[r]} in the middle", f"the {rows[r]}")
                locs = (f"{rows[r]} in the middle", f"at {rows[r]}")
            else:
                nouns = (f"{cols[c]} {rows[r]}", f"the {cols[c]} {rows[r]}")
                locs = (f"{cols[c]} {rows[r]}", f"on the {cols[c]} {rows[r]}", f"at {rows[r]} {cols[c]}")
            out[(row, col)] = (nouns, locs)
    return out


_BASE_SHAPES = {
    "circle": ("circle", "disk", "dot"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
    "star": ("star",),
    "cross": ("cross", "plus sign"),
    "heart": ("heart",),
    "diamond": ("diamond",),
    "ring": ("ring", "donut"),
    "moon": ("moon", "crescent"),
}

_BASE = Words(
    shapes=_BASE_SHAPES,
    colours={c: (c,) for c in COLOURS},
    sizes={"small": ("small", "little"), "large": ("large", "big")},
    places=_base_places(),
    things=("one", "shape", "object"),
)

WORDS: dict[str, Words] = {
    "base": _BASE,
    "formal": Words(
        shapes={k: v[:1] for k, v in _BASE_SHAPES.items()},
        colours={c: (c, f"{c}-coloured") for c in COLOURS},
        sizes={"small": ("small-scale", "modestly sized"), "large": ("large-scale", "sizeable")},
        places=_formal_places(),
        things=("figure", "element"),
    ),
    "casual": Words(
        shapes={**_BASE_SHAPES, "circle": ("circle", "blob"), "cross": ("plus thing", "cross")},
        colours={c: (c, f"{c}ish") for c in COLOURS},
        sizes={"small": ("tiny", "lil"), "large": ("huge", "chunky")},
        places=_casual_places(),
        things=("thing", "guy"),
    ),
    "passive": _BASE,
    "active": _BASE,
    "back_translation": Words(
        shapes={k: _BASE_SHAPES[k][:1] + RARE_SHAPES[k] for k in SHAPES},
        colours={c: (c, *RARE_COLOURS[c]) for c in COLOURS},
        sizes={"small": ("small", "little", "minor"), "large": ("great", "large", "tall")},
        places=_bt_places(),
        things=("form", "figure"),
    ),
}
