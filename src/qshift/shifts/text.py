"""The 16 text perturbations of the query-shift benchmark (benchmark.md, "Text perturbations").

``perturb(name, caption, severity, seed, **options)`` applies one perturbation to one caption;
``perturb_many`` applies it to a list (batched generation for the sentence level). Severity
L = 1…7 sets the rate 0.05·L: the share of words touched at the char level, the word-level rate
(see ``_text_char`` and ``_text_word`` for the exact counting rules); the sentence level ignores
it. Char- and word-level outputs are deterministic per ``seed`` (``np.random.default_rng``);
sentence-level generation is deterministic and ignores the seed.

Options:

- word level: ``filter`` (a callable ``list[str] -> (n, d)`` array such as ``minilm_encoder()``),
  ``min_cosine`` (0.9) and ``max_tries`` (100): re-sample until the embedding cosine between
  the original and the perturbed caption reaches ``min_cosine`` (see ``_text_filter``).
- sentence level: ``model_dir``, ``prefix``, ``batch_size``, ``max_new_tokens``, ``num_beams``,
  ``device`` (see ``qshift.shifts.sentence``).

An option that belongs to another level is ignored, so one set of options can be passed to every
shift (as ``qshift shift texts`` does); an option no level knows raises ValueError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from qshift.shifts import sentence
from qshift.shifts._text_char import perturb_chars
from qshift.shifts._text_filter import Encoder, MiniLMEncoder, derive_seed, filtered, minilm_encoder
from qshift.shifts._text_word import perturb_words

Level = Literal["char", "word", "sentence"]

__all__ = [
    "PAPER_TEXT_SHIFTS",
    "PERTURBATIONS",
    "SEVERITIES",
    "Encoder",
    "MiniLMEncoder",
    "TextPerturbation",
    "derive_seed",
    "level",
    "minilm_encoder",
    "perturb",
    "perturb_many",
    "rate",
]


@dataclass(frozen=True)
class TextPerturbation:
    """One text shift: its name and level; calling it perturbs one caption (see :func:`perturb`)."""

    name: str
    level: Level

    def __call__(self, caption: str, severity: int, seed: int = 0, **options: Any) -> str:
        return perturb(self.name, caption, severity, seed, **options)


keyboard = TextPerturbation("keyboard", "char")
ocr = TextPerturbation("ocr", "char")
char_insert = TextPerturbation("char_insert", "char")
char_substitute = TextPerturbation("char_substitute", "char")
char_swap = TextPerturbation("char_swap", "char")
char_delete = TextPerturbation("char_delete", "char")
synonym_replace = TextPerturbation("synonym_replace", "word")
random_insert = TextPerturbation("random_insert", "word")
random_swap = TextPerturbation("random_swap", "word")
random_delete = TextPerturbation("random_delete", "word")
insert_punctuation = TextPerturbation("insert_punctuation", "word")
formal = TextPerturbation("formal", "sentence")
casual = TextPerturbation("casual", "sentence")
passive = TextPerturbation("passive", "sentence")
active = TextPerturbation("active", "sentence")
back_translation = TextPerturbation("back_translation", "sentence")

#: every text shift defined above, in the benchmark's order
PERTURBATIONS: dict[str, TextPerturbation] = {
    p.name: p for p in list(globals().values()) if isinstance(p, TextPerturbation)
}
#: the 15 text shifts of the paper's tables (all but keyboard)
PAPER_TEXT_SHIFTS = tuple(name for name in PERTURBATIONS if name != "keyboard")
SEVERITIES = tuple(range(1, 8))

_WORD_DEFAULTS: dict[str, Any] = {"filter": None, "min_cosine": 0.9, "max_tries": 100}
_SENTENCE_OPTIONS = ("model_dir", "prefix", "batch_size", "max_new_tokens", "num_beams", "device")


def level(name: str) -> Level:
    """``"char"``, ``"word"`` or ``"sentence"``; ValueError naming an unknown shift."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown text shift {name!r}; available: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name].level


def rate(severity: int) -> float:
    """The rate 0.05·L of severity L; ValueError outside 1…7."""
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or severity not in SEVERITIES:
        raise ValueError(f"text shift severity must be an integer in 1..7, got {severity!r}")
    return 0.05 * int(severity)


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(word-level options with defaults, sentence-level options); ValueError on unknown names."""
    unknown = sorted(set(options) - set(_WORD_DEFAULTS) - set(_SENTENCE_OPTIONS))
    if unknown:
        known = ", ".join((*_WORD_DEFAULTS, *_SENTENCE_OPTIONS))
        raise ValueError(f"unknown text shift option(s) {', '.join(unknown)}; known: {known}")
    word = {k: options.get(k, v) for k, v in _WORD_DEFAULTS.items()}
    if word["filter"] is None and ("min_cosine" in options or "max_tries" in options):
        raise ValueError("options min_cosine/max_tries need filter=<encoder>, e.g. filter=minilm_encoder()")
    return word, {k: v for k, v in options.items() if k in _SENTENCE_OPTIONS}


def _check_inputs(name: str, severity: int, seed: int) -> tuple[Level, float]:
    kind = level(name)
    share = rate(severity)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return kind, share


def _check_caption(caption: Any) -> str:
    if not isinstance(caption, str):
        raise ValueError(f"a caption must be a str, got {type(caption).__name__}")
    return caption


def _perturb_one(kind: Level, name: str, caption: str, share: float, seed: int, word: dict[str, Any]) -> str:
    if not caption.split():
        return caption
    if kind == "char":
        return perturb_chars(name, caption, share, np.random.default_rng(seed))

    def attempt(t: int) -> str:
        rng = np.random.default_rng(seed if t == 0 else derive_seed(seed, t))
        return perturb_words(name, caption, share, rng)

    if word["filter"] is None:
        return attempt(0)
    return filtered(attempt, caption, word["filter"], word["min_cosine"], word["max_tries"])


def perturb(name: str, caption: str, severity: int, seed: int = 0, **options: Any) -> str:
    """Apply text shift ``name`` at ``severity`` (1…7) to one caption, seeded by ``seed``.

    Words are split on whitespace and re-joined with single spaces; a caption with no words is
    returned unchanged.
    """
    kind, share = _check_inputs(name, severity, seed)
    word, sentence_options = _split_options(options)
    caption = _check_caption(caption)
    if kind == "sentence":
        return sentence.rewrite(name, [caption], **sentence_options)[0]
    return _perturb_one(kind, name, caption, share, int(seed), word)


def perturb_many(
    name: str, captions: Sequence[str], severity: int, seed: int = 0, **options: Any
) -> list[str]:
    """Apply text shift ``name`` to every caption.

    Char and word level: caption ``i`` gets ``perturb(name, captions[i], severity,
    derive_seed(seed, i), **options)``. Sentence level: batched generation over all captions.
    """
    kind, share = _check_inputs(name, severity, seed)
    word, sentence_options = _split_options(options)
    texts = [_check_caption(c) for c in captions]
    if kind == "sentence":
        return sentence.rewrite(name, texts, **sentence_options)
    return [_perturb_one(kind, name, c, share, derive_seed(int(seed), i), word) for i, c in enumerate(texts)]
