"""Caption normalisation as BLIP's retrieval datasets apply it (``pre_caption``).

BLIP lower-cases captions, turns the punctuation ``. ! " ( ) * # : ; ~`` into spaces,
collapses whitespace and keeps at most 30 words. The COCO/Flickr numbers in method.md §4 were
measured on captions normalised this way, so qshift's loaders do the same.
"""

from __future__ import annotations

#: characters BLIP replaces by a space (salesforce/BLIP ``data/utils.py``, ``pre_caption``)
BLIP_PUNCTUATION = '.!"()*#:;~'

_TO_SPACE = str.maketrans(dict.fromkeys(BLIP_PUNCTUATION, " "))


def normalize_caption(text: str, max_words: int | None = 30) -> str:
    """Lower-case, blank BLIP's punctuation, collapse whitespace, keep the first ``max_words``.

    ``max_words=None`` keeps every word.
    """
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be >= 1 or None, got {max_words}")
    words = text.lower().translate(_TO_SPACE).split()
    if max_words is not None:
        words = words[:max_words]
    return " ".join(words)
