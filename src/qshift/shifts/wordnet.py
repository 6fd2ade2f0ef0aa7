"""Offline WordNet 3.0 synonyms, read straight from the dictionary files.

The word-level text shifts (synonym_replace, random_insert) need WordNet, and nothing may be
downloaded at run time. Debian's ``wordnet-base`` package (``apt-get install -y wordnet-base``)
installs the WordNet 3.0 database under ``/usr/share/wordnet``; an NLTK ``wordnet`` corpus
directory has the same files. This module reads them with a small reader of its own (no NLTK):
the sorted ``index.<pos>`` files map a lemma to synset offsets, and ``data.<pos>`` holds each
synset at that byte offset. Inflected words (``circles``, ``striped``) are reduced to their base
forms with WordNet's morphy algorithm (exception lists, then suffix detachment rules).

The directory is taken from ``$QSHIFT_WORDNET_DIR`` if set, else from the first of
``/usr/share/wordnet``, ``~/nltk_data/corpora/wordnet``, ``/usr/share/nltk_data/corpora/wordnet``
that holds the files.
"""

from __future__ import annotations

import mmap
import os
import re
from functools import lru_cache
from pathlib import Path

ENV_VAR = "QSHIFT_WORDNET_DIR"
INSTALL_HINT = (
    "install WordNet with `apt-get install -y wordnet-base` (Debian/Ubuntu), "
    f"or set {ENV_VAR} to a WordNet 3.0 dict directory (with index.noun, data.noun, ...)"
)
POS = ("noun", "verb", "adj", "adv")
_SEARCH_PATHS = (
    Path("/usr/share/wordnet"),
    Path.home() / "nltk_data" / "corpora" / "wordnet",
    Path("/usr/share/nltk_data/corpora/wordnet"),
)
_REQUIRED = tuple(f"{kind}.{pos}" for pos in POS for kind in ("index", "data"))
# Suffix detachment rules of WordNet's morphy (morphy(7WN), "Rules of Detachment").
_DETACH = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
             ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
             ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}  # fmt: skip
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")
_PLAIN = re.compile(r"[a-z]+(?: [a-z]+)*")


def _has_files(root: Path) -> bool:
    return all((root / name).is_file() for name in _REQUIRED)


def find_dir() -> Path:
    """The WordNet dict directory: ``$QSHIFT_WORDNET_DIR``, else the first standard location."""
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env)
        if not _has_files(root):
            raise FileNotFoundError(f"{ENV_VAR}={env} does not hold the WordNet files {list(_REQUIRED)}")
        return root
    for root in _SEARCH_PATHS:
        if _has_files(root):
            return root
    searched = ", ".join(str(p) for p in _SEARCH_PATHS)
    raise FileNotFoundError(f"WordNet not found (searched {searched}): {INSTALL_HINT}")


def _read_index(path: Path) -> dict[str, tuple[int, ...]]:
    """Map each lemma of an ``index.<pos>`` file to its synset byte offsets in ``data.<pos>``."""
    table: dict[str, tuple[int, ...]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith(" "):  # licence header
                continue
            fields = line.split()
            n_synsets, n_pointers = int(fields[2]), int(fields[3])
            table[fields[0]] = tuple(int(x) for x in fields[6 + n_pointers : 6 + n_pointers + n_synsets])
    return table


def _read_exceptions(path: Path) -> dict[str, tuple[str, ...]]:
    """Map irregular inflections (``mice``) to their base forms (``mouse``)."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as f:
        return {fields[0]: tuple(fields[1:]) for fields in (line.split() for line in f) if len(fields) > 1}


class WordNet:
    """Read-only access to one WordNet dict directory; indices load on first use of a POS."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[str, dict[str, tuple[int, ...]]] = {}
        self._exceptions: dict[str, dict[str, tuple[str, ...]]] = {}
        self._data: dict[str, mmap.mmap] = {}

    def index(self, pos: str) -> dict[str, tuple[int, ...]]:
        """Lemma → synset offsets for ``pos``."""
        if pos not in self._index:
            self._index[pos] = _read_index(self.root / f"index.{pos}")
        return self._index[pos]

    def base_forms(self, word: str, pos: str) -> list[str]:
        """Lemmas of ``pos`` that ``word`` may be an inflection of (morphy), itself included."""
        if pos not in self._exceptions:
            self._exceptions[pos] = _read_exceptions(self.root / f"{pos}.exc")
        exceptions = self._exceptions[pos].get(word)
        if exceptions is not None:
            forms = [word, *exceptions]
        else:
            forms = [word] + [word[: -len(old)] + new for old, new in _DETACH[pos] if word.endswith(old)]
        index = self.index(pos)
        return list(dict.fromkeys(form for form in forms if form in index))

    def synset_lemmas(self, pos: str, offset: int) -> list[str]:
        """The lemma names (underscores kept) of the synset at ``offset`` in ``data.<pos>``."""
        if pos not in self._data:
            with (self.root / f"data.{pos}").open("rb") as f:
                self._data[pos] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        data = self._data[pos]
        fields = data[offset : data.find(b"\n", offset)].decode("utf-8").split()
        n_words = int(fields[3], 16)
        return [_ADJ_MARKER.sub("", fields[4 + 2 * i]) for i in range(n_words)]


@lru_cache(maxsize=1)
def _wordnet() -> WordNet:
    return WordNet(find_dir())


@lru_cache(maxsize=1 << 16)
def _synonyms(word: str) -> tuple[str, ...]:
    wn = _wordnet()
    key = word.strip().lower().replace(" ", "_")
    excluded = {key}
    found: list[str] = []
    for pos in POS:
        forms = wn.base_forms(key, pos)
        excluded.update(forms)
        for form in forms:
            for offset in wn.index(pos)[form]:
                found.extend(wn.synset_lemmas(pos, offset))
    out = []
    for lemma in dict.fromkeys(found):
        if lemma.lower() in excluded:
            continue
        text = lemma.replace("_", " ").replace("-", " ").lower()
        if _PLAIN.fullmatch(text):
            out.append(text)
    return tuple(dict.fromkeys(out))


def synonyms(word: str) -> list[str]:
    """WordNet synonyms of ``word`` over all parts of speech, in WordNet's sense order.

    Lemmas of every synset of every base form of ``word``, lower-cased, with ``_`` and ``-``
    turned into spaces (so a synonym may be several words, as in EDA); the word itself, its
    base forms and lemmas with characters other than letters are dropped. Cached per word.
    Raises FileNotFoundError naming the install step when WordNet is absent.
    """
    return list(_synonyms(word))
