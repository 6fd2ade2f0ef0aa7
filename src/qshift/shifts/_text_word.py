"""Word-level text perturbations: EDA's four operations and AEDA's punctuation insertion.

``share`` is the severity's rate 0.05·L. As for the char level, a caption is split on whitespace
and re-joined with single spaces, and counts are ``max(1, round(share * n_words))`` with
half-up rounding (EDA truncates instead; rounding keeps the realised share closest to 0.05·L).

- synonym_replace: up to that many distinct non-stop-words, in random order, are replaced (every
  occurrence, as EDA does) by a random WordNet synonym; words without synonyms are skipped.
- random_insert: that many times, a random WordNet synonym of a random non-stop-word is inserted
  at a random position (EDA's 10 tries to find a word that has synonyms).
- random_swap: that many times, two words at random positions that differ are swapped.
- random_delete: each word is deleted with probability ``share``; if all would go, one random
  word is kept, so the caption is never empty.
- insert_punctuation (AEDA): ``q`` uniform in ``1 … int(share * n_words + 1)`` distinct words
  get one of ``. , ! ? ; :`` inserted before them.
"""

from __future__ import annotations

import string

import numpy as np

from qshift.shifts._text_char import words_to_touch
from qshift.shifts.wordnet import synonyms

PUNCTUATION = (".", ",", "!", "?", ";", ":")
_INSERT_TRIES = 10
# English function words that EDA-style synonym edits leave alone (articles, pronouns,
# prepositions, conjunctions, auxiliaries, quantifiers).
# fmt: off
STOP_WORDS = frozenset({
    "a", "an", "the", "this", "that", "these", "those", "some", "any", "each", "every", "all", "both",
    "either", "neither", "no", "none", "i", "me", "my", "mine", "myself", "we", "us", "our", "ours",
    "ourselves", "you", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she",
    "her", "hers", "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves",
    "one", "ones", "who", "whom", "whose", "which", "what", "where", "when", "why", "how", "whether",
    "than", "then", "there", "here", "and", "or", "but", "nor", "so", "yet", "if", "because", "while",
    "although", "though", "as", "until", "unless", "since", "of", "to", "in", "on", "at", "by", "for",
    "with", "without", "from", "into", "onto", "upon", "over", "under", "above", "below", "between",
    "among", "through", "during", "before", "after", "about", "against", "along", "across", "around",
    "behind", "beside", "near", "off", "out", "up", "down", "toward", "towards", "within", "is", "am",
    "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did",
    "doing", "will", "would", "shall", "should", "can", "could", "may", "might", "must", "not", "very",
    "too", "just", "only", "also", "again", "further", "once", "more", "most", "other", "such", "own",
    "same", "few", "s", "t",
})
# fmt: on


def _split_core(word: str) -> tuple[str, str, str]:
    """``("(", "dog", "),")`` for ``"(dog),"``: leading punctuation, the word, trailing punctuation."""
    rest = word.lstrip(string.punctuation)
    core = rest.rstrip(string.punctuation)
    return word[: len(word) - len(rest)], core, rest[len(core) :]


def _content_words(words: list[str]) -> list[str]:
    """Distinct lower-cased non-stop-words of the caption, in order of appearance."""
    cores = (_split_core(w)[1].lower() for w in words)
    return list(dict.fromkeys(c for c in cores if c and c not in STOP_WORDS))


def synonym_replace(words: list[str], share: float, rng: np.random.Generator) -> list[str]:
    """Replace up to ``round(share·n)`` distinct content words by WordNet synonyms."""
    n = words_to_touch(share, len(words))
    content = _content_words(words)
    out = list(words)
    replaced = 0
    for target in (content[i] for i in rng.permutation(len(content))):
        options = synonyms(target)
        if not options:
            continue
        new = options[rng.integers(len(options))]
        for i, word in enumerate(out):
            lead, core, trail = _split_core(word)
            if core.lower() == target:
                out[i] = lead + new + trail
        replaced += 1
        if replaced == n:
            break
    return out


def random_insert(words: list[str], share: float, rng: np.random.Generator) -> list[str]:
    """Insert ``round(share·n)`` synonyms of random content words at random positions."""
    content = _content_words(words)
    out = list(words)
    if not content:
        return out
    for _ in range(words_to_touch(share, len(words))):
        for _ in range(_INSERT_TRIES):
            options = synonyms(content[rng.integers(len(content))])
            if options:
                out.insert(int(rng.integers(len(out) + 1)), options[rng.integers(len(options))])
                break
    return out


def random_swap(words: list[str], share: float, rng: np.random.Generator) -> list[str]:
    """Swap ``round(share·n)`` random pairs of differing words."""
    out = list(words)
    for _ in range(words_to_touch(share, len(words))):
        i = int(rng.integers(len(out)))
        others = [j for j, w in enumerate(out) if w != out[i]]
        if others:
            j = others[rng.integers(len(others))]
            out[i], out[j] = out[j], out[i]
    return out


def random_delete(words: list[str], share: float, rng: np.random.Generator) -> list[str]:
    """Delete each word with probability ``share``; keep one random word if all would go."""
    if len(words) <= 1:
        return list(words)
    keep = rng.random(len(words)) >= share
    if not keep.any():
        return [words[rng.integers(len(words))]]
    return [w for w, k in zip(words, keep, strict=True) if k]


def insert_punctuation(words: list[str], share: float, rng: np.random.Generator) -> list[str]:
    """AEDA: insert random punctuation marks before ``q`` random distinct words."""
    q = int(rng.integers(1, int(share * len(words) + 1), endpoint=True))
    chosen = set(rng.choice(len(words), size=min(q, len(words)), replace=False).tolist())
    out = []
    for i, word in enumerate(words):
        if i in chosen:
            out.append(PUNCTUATION[rng.integers(len(PUNCTUATION))])
        out.append(word)
    return out


WORD_EDITS = {
    "synonym_replace": synonym_replace,
    "random_insert": random_insert,
    "random_swap": random_swap,
    "random_delete": random_delete,
    "insert_punctuation": insert_punctuation,
}


def perturb_words(name: str, caption: str, share: float, rng: np.random.Generator) -> str:
    """Apply word-level shift ``name`` with rate ``share`` to ``caption``."""
    return " ".join(WORD_EDITS[name](caption.split(), share, rng))
