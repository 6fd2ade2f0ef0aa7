"""Sentence-level text shifts through local Hugging Face seq2seq models.

Style transfer (``formal``, ``casual``, ``passive``, ``active``) runs one model; back-translation
runs an English→German model, then a German→English one. Nothing is downloaded: models are
local directories that ``AutoTokenizer`` and ``AutoModelForSeq2SeqLM`` can load, found as

- ``model_dir=`` given: the model directory itself for a style shift; for ``back_translation``
  a directory holding ``en-de/`` and ``de-en/``;
- otherwise ``$QSHIFT_STYLE_MODEL_DIR`` holding ``formal/ casual/ passive/ active/ en-de/ de-en/``.

Generation is deterministic (greedy, or beam search with ``num_beams > 1``): the seed and the
severity do not change the output. Style inputs get a task prefix; the defaults follow the
Styleformer T5 models (``"transfer Casual to Formal: "`` …) and ``prefix=""`` turns it off.
Captions are generated in batches sorted by length, so little padding is computed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

ENV_VAR = "QSHIFT_STYLE_MODEL_DIR"
STYLE_PREFIXES = {
    "formal": "transfer Casual to Formal: ",
    "casual": "transfer Formal to Casual: ",
    "passive": "transfer Active to Passive: ",
    "active": "transfer Passive to Active: ",
}
BACK_TRANSLATION = "back_translation"
SENTENCE_SHIFTS = (*STYLE_PREFIXES, BACK_TRANSLATION)
_BT_STEPS = ("en-de", "de-en")
_MAX_INPUT_TOKENS = 512


def _layout_hint() -> str:
    subdirs = " ".join(f"{s}/" for s in (*STYLE_PREFIXES, *_BT_STEPS))
    return f"pass model_dir=... or set {ENV_VAR} to a directory with sub-directories {subdirs}"


def _check_model_dir(name: str, path: Path, how: str) -> Path:
    if not (path / "config.json").is_file():
        raise ValueError(
            f"text shift {name!r} needs a local seq2seq model, expected at {path} ({how}) "
            f"but it has no config.json; {_layout_hint()}"
        )
    return path


def model_dirs(name: str, model_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The model directories ``name`` runs, in order (two for back-translation)."""
    if name not in SENTENCE_SHIFTS:
        raise ValueError(f"{name!r} is not a sentence-level shift; expected one of {SENTENCE_SHIFTS}")
    if model_dir is not None:
        root, how = Path(model_dir), f"model_dir={model_dir}"
        style_dir = root
    else:
        env = os.environ.get(ENV_VAR)
        if not env:
            steps = _BT_STEPS if name == BACK_TRANSLATION else (name,)
            where = " and ".join(f"${ENV_VAR}/{step}" for step in steps)
            raise ValueError(
                f"text shift {name!r} needs a local seq2seq model and {ENV_VAR} is not set "
                f"(expected {where}); {_layout_hint()}"
            )
        root, how = Path(env), f"{ENV_VAR}={env}"
        style_dir = root / name
    if name == BACK_TRANSLATION:
        return [_check_model_dir(name, root / step, how) for step in _BT_STEPS]
    return [_check_model_dir(name, style_dir, how)]


@lru_cache(maxsize=4)
def _load(path: str, device: str) -> tuple[Any, Any]:
    """Tokenizer and eval-mode model of one local directory, cached across calls."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=True).to(device).eval()
    return tokenizer, model


def generate(
    path: Path, texts: list[str], batch_size: int, max_new_tokens: int, num_beams: int, device: str
) -> list[str]:
    """Rewrite ``texts`` with the seq2seq model at ``path``, in length-sorted batches."""
    import torch

    tokenizer, model = _load(str(path), device)
    max_input = min(tokenizer.model_max_length, _MAX_INPUT_TOKENS)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = [""] * len(texts)
    for start in range(0, len(order), batch_size):
        ids = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in ids], padding=True, truncation=True, max_length=max_input, return_tensors="pt"
        ).to(device)
        with torch.no_grad():
            tokens = model.generate(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                max_new_tokens=max_new_tokens,
                num_beams=num_beams,
                do_sample=False,
            )
        for i, text in zip(ids, tokenizer.batch_decode(tokens, skip_special_tokens=True), strict=True):
            out[i] = text.strip()
    return out


def _positive(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be a positive integer, got {value!r}")
    return value


def rewrite(
    name: str,
    captions: list[str],
    *,
    model_dir: str | os.PathLike[str] | None = None,
    prefix: str | None = None,
    batch_size: int = 32,
    max_new_tokens: int = 64,
    num_beams: int = 1,
    device: str = "cpu",
) -> list[str]:
    """Apply sentence-level shift ``name`` to every caption (batched generation).

    ``prefix`` (default: the Styleformer prefix of the style) is put before each caption of a
    style shift; back-translation uses none.
    """
    paths = model_dirs(name, model_dir)
    settings = (
        _positive("batch_size", batch_size),
        _positive("max_new_tokens", max_new_tokens),
        _positive("num_beams", num_beams),
        device,
    )
    if not captions:
        return []
    if name == BACK_TRANSLATION:
        german = generate(paths[0], list(captions), *settings)
        return generate(paths[1], german, *settings)
    lead = STYLE_PREFIXES[name] if prefix is None else prefix
    return generate(paths[0], [lead + c for c in captions], *settings)
