"""Character-level text perturbations with nlpaug-like defaults (native, no nlpaug).

Rules shared by all six shifts (``keyboard``, ``ocr``, ``char_insert``, ``char_substitute``,
``char_swap``, ``char_delete``):

- A caption is split on whitespace (and re-joined with single spaces). A word's length counts
  its letters and digits only; edits only touch those characters, never punctuation.
- Candidate words are the words the edit can change that have >= 4 characters (nlpaug's
  ``min_char=4``). If a caption has none, the candidates are the editable words of the greatest
  length, so that short captions still change.
- ``max(1, round(share * n_words))`` words are touched (``n_words`` counts all words; rounding is
  half-up), at most all candidates; each touched word changes.
- A touched word gets ``max(1, floor(0.3 * length))`` edits (nlpaug's ``aug_char_p=0.3``),
  at most as many as it has editable positions.
- Inserted and substituted characters are drawn from lower-case ASCII letters and digits (the
  benchmark's captions are lower-cased); a replaced letter keeps the case of the original.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable

import numpy as np

MIN_CHARS = 4
CHAR_SHARE = 0.3
_ALPHABET = string.ascii_lowercase + string.digits
_SUBSTITUTES = {ch: _ALPHABET.replace(ch, "") for ch in _ALPHABET}

# QWERTY rows; a key's neighbours are its left/right keys and the touching keys of the rows
# above and below (each row sits half a key to the right of the row above it).
_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    table = {}
    for r, row in enumerate(_ROWS):
        for c, key in enumerate(row):
            spots = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
            table[key] = "".join(
                _ROWS[rr][cc] for rr, cc in spots if 0 <= rr < len(_ROWS) and 0 <= cc < len(_ROWS[rr])
            )
    return table


KEYBOARD = _keyboard_neighbours()
# Common OCR confusions of glyphs that look alike (in the spirit of nlpaug's ocr_en mapping).
OCR = {
    "0": "o", "o": "0", "1": "li", "l": "1", "i": "1", "5": "s", "s": "5", "8": "b", "b": "8",
    "2": "z", "z": "2", "9": "g", "g": "9", "7": "t", "t": "7", "6": "b", "e": "c", "c": "e",
    "u": "v", "v": "u", "m": "n", "n": "m", "q": "9",
}  # fmt: skip


def words_to_touch(share: float, n_words: int) -> int:
    """``max(1, round(share * n_words))`` with half-up rounding (0 for an empty caption)."""
    return 0 if n_words == 0 else max(1, math.floor(share * n_words + 0.5))


def _alnum_positions(word: str) -> list[int]:
    return [i for i, ch in enumerate(word) if ch.isalnum()]


def _edit_budget(word: str) -> int:
    return max(1, math.floor(CHAR_SHARE * len(_alnum_positions(word))))


def _with_case(new: str, old: str) -> str:
    return new.upper() if old.isupper() else new


def _replace_at(word: str, positions: list[int], table: dict[str, str], rng: np.random.Generator) -> str:
    """Replace ``k`` random characters among ``positions`` by a choice from ``table[ch]``."""
    chars = list(word)
    k = min(_edit_budget(word), len(positions))
    for p in sorted(rng.choice(positions, size=k, replace=False)):
        options = table[chars[p].lower()]
        chars[p] = _with_case(options[rng.integers(len(options))], chars[p])
    return "".join(chars)


def _keyboard_positions(word: str) -> list[int]:
    return [i for i, ch in enumerate(word) if ch.lower() in KEYBOARD]


def _ocr_positions(word: str) -> list[int]:
    return [i for i, ch in enumerate(word) if ch.lower() in OCR]


def _keyboard(word: str, rng: np.random.Generator) -> str:
    return _replace_at(word, _keyboard_positions(word), KEYBOARD, rng)


def _ocr(word: str, rng: np.random.Generator) -> str:
    return _replace_at(word, _ocr_positions(word), OCR, rng)


def _substitute(word: str, rng: np.random.Generator) -> str:
    table = _SUBSTITUTES | {ch.lower(): _ALPHABET for ch in word if ch.lower() not in _SUBSTITUTES}
    return _replace_at(word, _alnum_positions(word), table, rng)


def _insert(word: str, rng: np.random.Generator) -> str:
    positions = _alnum_positions(word)
    slots = [*positions, positions[-1] + 1]
    chars = list(word)
    for p in sorted(rng.choice(slots, size=min(_edit_budget(word), len(slots)), replace=False), reverse=True):
        chars.insert(p, _ALPHABET[rng.integers(len(_ALPHABET))])
    return "".join(chars)


def _delete(word: str, rng: np.random.Generator) -> str:
    positions = _alnum_positions(word)
    k = min(_edit_budget(word), len(positions) - 1)
    chars = list(word)
    for p in sorted(rng.choice(positions, size=k, replace=False), reverse=True):
        del chars[p]
    return "".join(chars)


def _swap_positions(word: str) -> list[int]:
    """Starts of adjacent alphanumeric pairs whose swap changes the word."""
    return [
        i
        for i in range(len(word) - 1)
        if word[i].isalnum() and word[i + 1].isalnum() and word[i] != word[i + 1]
    ]


def _swap(word: str, rng: np.random.Generator) -> str:
    """Swap up to the edit budget of non-overlapping adjacent pairs (nlpaug's ``adjacent`` mode)."""
    chars = list(word)
    taken: set[int] = set()
    budget = _edit_budget(word)
    for p in rng.permutation(_swap_positions(word)):
        if budget == 0:
            break
        if p in taken or p + 1 in taken:
            continue
        chars[p], chars[p + 1] = chars[p + 1], chars[p]
        taken.update((p, p + 1))
        budget -= 1
    return "".join(chars)


Edit = Callable[[str, np.random.Generator], str]
# name -> (can this word be changed?, edit)
CHAR_EDITS: dict[str, tuple[Callable[[str], bool], Edit]] = {
    "keyboard": (lambda w: bool(_keyboard_positions(w)), _keyboard),
    "ocr": (lambda w: bool(_ocr_positions(w)), _ocr),
    "char_insert": (lambda w: bool(_alnum_positions(w)), _insert),
    "char_substitute": (lambda w: bool(_alnum_positions(w)), _substitute),
    "char_swap": (lambda w: bool(_swap_positions(w)), _swap),
    "char_delete": (lambda w: len(_alnum_positions(w)) >= 2, _delete),
}


def candidates(words: list[str], editable: Callable[[str], bool]) -> list[int]:
    """Indices of the words to choose from: editable ones of >= 4 characters, else the longest."""
    lengths = {i: len(_alnum_positions(w)) for i, w in enumerate(words) if editable(w)}
    long = [i for i, n in lengths.items() if n >= MIN_CHARS]
    if long or not lengths:
        return long
    longest = max(lengths.values())
    return [i for i, n in lengths.items() if n == longest]


def perturb_chars(name: str, caption: str, share: float, rng: np.random.Generator) -> str:
    """Apply char-level shift ``name`` to ``share`` of the words of ``caption``."""
    editable, edit = CHAR_EDITS[name]
    words = caption.split()
    pool = candidates(words, editable)
    k = min(words_to_touch(share, len(words)), len(pool))
    for i in sorted(rng.choice(pool, size=k, replace=False)):
        words[i] = edit(words[i], rng)
    return " ".join(words)
