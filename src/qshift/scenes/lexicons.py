"""The wording of each caption style: synonyms, position phrases and background names.

The training style (``base``) has many synonyms per attribute; the held-out styles of
``captions.STYLES`` each have their own vocabulary (``passive`` and ``active`` reuse the training
words and change the sentence instead), so that they test a shift of wording as well as of form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qshift.scenes.generator import COLOURS, COLS, ROWS, SHAPES


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    """One of ``options``, drawn from ``rng`` (one integer draw, whatever the options)."""
    return options[int(rng.integers(len(options)))]


@dataclass(frozen=True)
class Lexicon:
    """The wording of one caption style: synonyms, position phrases and connective templates."""

    shapes: dict[str, tuple[str, ...]]
    colours: dict[str, tuple[str, ...]]
    sizes: dict[str, tuple[str, ...]]
    positions: Callable[[int, int, np.random.Generator], str]
    backgrounds: dict[str, tuple[str, ...]]


_BASE_SHAPES = {
    "circle": ("circle", "disk"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
    "star": ("star",),
    "cross": ("cross", "plus sign"),
    "heart": ("heart",),
    "diamond": ("diamond",),
    "ring": ("ring", "donut"),
    "moon": ("moon", "crescent"),
}
#: rarer names of each shape, the vocabulary of the unseen-word text shifts
RARE_SHAPES = {
    "circle": ("round disc", "orb"),
    "square": ("quadrate", "four-sided square"),
    "triangle": ("three-cornered shape", "trigon"),
    "star": ("star figure", "five-pointed star"),
    "cross": ("plus", "crossing"),
    "heart": ("heart figure", "heart symbol"),
    "diamond": ("rhombus", "lozenge"),
    "ring": ("annulus", "hoop"),
    "moon": ("half moon", "sickle"),
}
#: rarer names of each colour (same use)
RARE_COLOURS = {
    "red": ("crimson", "scarlet"),
    "orange": ("tangerine", "orange-coloured"),
    "yellow": ("golden", "lemon"),
    "green": ("emerald", "verdant"),
    "blue": ("azure", "cobalt"),
    "purple": ("violet", "lilac"),
    "pink": ("rose", "rosy"),
    "brown": ("chestnut", "umber"),
    "black": ("dark", "jet"),
    "white": ("snowy", "pale"),
}
_BASE_BACKGROUNDS = {
    "stripes": ("striped",),
    "dots": ("dotted", "polka-dot"),
    "checks": ("checkered", "checked"),
    "gradient": ("gradient", "shaded"),
    "grid": ("grid", "gridded"),
    "waves": ("wavy",),
}


def _base_position(row: int, col: int, rng: np.random.Generator) -> str:
    """Training-style position phrase ("in the top left", "on the right", "in the middle")."""
    r, c = ROWS[row], COLS[col]
    if r == "middle" and c == "centre":
        return pick(rng, ("in the centre", "in the middle", "at the center"))
    if r == "middle":
        return pick(rng, (f"on the {c}", f"on the {c} side", f"at the middle {c}"))
    vert = pick(rng, (r, "upper" if r == "top" else "lower"))
    if c == "centre":
        return pick(rng, (f"at the {r}", f"in the {r} middle", f"at the {vert} centre"))
    return pick(rng, (f"in the {vert} {c}", f"at the {r} {c}", f"in the {r}-{c} corner"))


def _formal_position(row: int, col: int, rng: np.random.Generator) -> str:
    r = {"top": "upper", "middle": "central", "bottom": "lower"}[ROWS[row]]
    c = {"left": "left-hand", "centre": "central", "right": "right-hand"}[COLS[col]]
    if row == 1 and col == 1:
        return pick(
            rng, ("positioned at the centre of the frame", "located at the centre of the composition")
        )
    if row == 1:
        return pick(rng, (f"positioned on the {c} side of the frame", f"located along the {c} edge"))
    if col == 1:
        return pick(
            rng, (f"positioned in the {r} central region", f"located in the {r} portion of the frame")
        )
    return pick(rng, (f"positioned in the {r} {c} region", f"located in the {r} {c} quadrant"))


def _casual_position(row: int, col: int, rng: np.random.Generator) -> str:
    r = {"top": "up top", "middle": "", "bottom": "down low"}[ROWS[row]]
    c = {"left": "on the left", "centre": "", "right": "over on the right"}[COLS[col]]
    if row == 1 and col == 1:
        return pick(rng, ("smack in the middle", "right in the middle"))
    return pick(rng, ("kinda ", "like ", "")) + " ".join(part for part in (r, c) if part)


def _bt_position(row: int, col: int, rng: np.random.Generator) -> str:
    r = {"top": "above", "middle": "middle", "bottom": "below"}[ROWS[row]]
    c = {"left": "left", "centre": "middle", "right": "right"}[COLS[col]]
    if row == 1 and col == 1:
        return pick(rng, ("in the midst", "in centre", "at middle"))
    if row == 1:
        return pick(rng, (f"at the {c} side", f"{c}"))
    if col == 1:
        return pick(rng, (f"{r} in the middle", f"at {r}"))
    return pick(rng, (f"{c} {r}", f"on the {c} {r}", f"at {r} {c}"))


#: the lexicon of each style; styles without their own (``passive``, ``active``) use ``base``
LEXICONS = {
    "base": Lexicon(
        shapes=_BASE_SHAPES,
        colours={c: (c,) for c in COLOURS},
        sizes={"small": ("small", "little"), "large": ("large", "big")},
        positions=_base_position,
        backgrounds=_BASE_BACKGROUNDS,
    ),
    "formal": Lexicon(
        shapes={k: v[:1] for k, v in _BASE_SHAPES.items()},
        colours={c: (c, f"{c}-coloured") for c in COLOURS},
        sizes={"small": ("small-scale", "modestly sized"), "large": ("large-scale", "sizeable")},
        positions=_formal_position,
        backgrounds={k: (f"{v[0]}",) for k, v in _BASE_BACKGROUNDS.items()},
    ),
    "casual": Lexicon(
        shapes={**_BASE_SHAPES, "circle": ("circle", "blob"), "cross": ("plus thing", "cross")},
        colours={c: (c, f"{c}ish") for c in COLOURS},
        sizes={"small": ("tiny", "lil"), "large": ("huge", "chunky")},
        positions=_casual_position,
        backgrounds=_BASE_BACKGROUNDS,
    ),
    "back_translation": Lexicon(
        shapes={k: _BASE_SHAPES[k][:1] + RARE_SHAPES[k] for k in SHAPES},
        colours={c: (c,) + RARE_COLOURS[c] for c in COLOURS},
        sizes={"small": ("small", "little", "minor"), "large": ("great", "large", "tall")},
        positions=_bt_position,
        backgrounds={**_BASE_BACKGROUNDS, "stripes": ("strip",), "checks": ("chess",), "dots": ("point",)},
    ),
}
