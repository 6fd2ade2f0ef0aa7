"""The DualEncoder interface every retrieval backbone implements.

A DualEncoder owns two towers that map into one embedding space. The adapter only ever sees
the *query tower* of the chosen direction (an ``nn.Module`` from a prepared batch to (B, d)
embeddings); the gallery tower is run once, frozen, to embed the gallery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

Direction = Literal["i2t", "t2i"]
ParamSpec = str | Callable[[nn.Module], Iterable[nn.Parameter]]


def check_direction(direction: str) -> Direction:
    """Return ``direction`` if it is ``"i2t"`` or ``"t2i"``; raise ValueError otherwise."""
    if direction not in ("i2t", "t2i"):
        raise ValueError(f"direction must be 'i2t' or 't2i', got {direction!r}")
    return direction  # type: ignore[return-value]


def move_batch(batch: Any, device: torch.device | str) -> Any:
    """Move a prepared batch (a tensor or a mapping of tensors) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return batch


class DualEncoder(nn.Module):
    """A retrieval model: image tower, text tower, their preprocessing and embedding width.

    Subclasses implement :meth:`image_tower`, :meth:`text_tower`, :meth:`prepare_images`
    and :meth:`prepare_texts`. Towers take the *prepared* batch (a (B, C, H, W) tensor for
    images, a mapping of tensors for texts) and return unnormalised (B, d) embeddings.
    """

    #: width of the shared embedding space
    dim: int
    #: short name used in results (e.g. "scenes", "hf:openai/clip-vit-base-patch16")
    name: str = "encoder"

    def image_tower(self) -> nn.Module:
        """Module mapping a prepared image batch to (B, d) embeddings."""
        raise NotImplementedError

    def text_tower(self) -> nn.Module:
        """Module mapping a prepared text batch to (B, d) embeddings."""
        raise NotImplementedError

    def prepare_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Turn H×W×3 uint8 arrays into the tower's input tensor (resize, normalise)."""
        raise NotImplementedError

    def prepare_texts(self, texts: Sequence[str]) -> Mapping[str, torch.Tensor]:
        """Tokenise captions into the text tower's input mapping."""
        raise NotImplementedError

    def adapt_params(self, direction: Direction) -> ParamSpec:
        """Trainable-parameter preset for adapting the query tower of ``direction``.

        The default is the general ``"norm"`` rule; backbones override it to reproduce the
        paper's trainable sets.
        """
        return "norm"

    def method_defaults(self, method: str, direction: Direction) -> dict[str, Any]:
        """Backbone-specific hyper-parameter defaults (e.g. BLIP t2i lr 3e-5); {} by default."""
        return {}

    # -- derived helpers -------------------------------------------------------------------
    def query_tower(self, direction: Direction) -> nn.Module:
        """The tower whose normalisation layers adapt: images for i2t, texts for t2i."""
        return self.image_tower() if check_direction(direction) == "i2t" else self.text_tower()

    def gallery_tower(self, direction: Direction) -> nn.Module:
        """The frozen tower that embeds the gallery once."""
        return self.text_tower() if check_direction(direction) == "i2t" else self.image_tower()

    def prepare(self, modality: Literal["image", "text"], items: Sequence[Any]) -> Any:
        """Prepare a batch of raw items of ``modality``."""
        return self.prepare_images(items) if modality == "image" else self.prepare_texts(items)

    @property
    def device(self) -> torch.device:
        """Device of the encoder's parameters (CPU when it has none)."""
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    @torch.no_grad()
    def embed(
        self,
        modality: Literal["image", "text"],
        items: Sequence[Any],
        batch_size: int = 256,
        workers: int = 4,
    ) -> torch.Tensor:
        """L2-normalised embeddings of raw items, in eval mode without gradient.

        Items are fetched by index (lazy image sources load here) with a thread pool.
        """
        tower = self.image_tower() if modality == "image" else self.text_tower()
        was_training = tower.training
        tower.eval()
        chunks = []
        with ThreadPoolExecutor(max(1, workers)) as pool:
            for start in range(0, len(items), batch_size):
                chunk = list(pool.map(items.__getitem__, range(start, min(start + batch_size, len(items)))))
                batch = move_batch(self.prepare(modality, chunk), self.device)
                chunks.append(nn.functional.normalize(tower(batch).float(), dim=-1).cpu())
        tower.train(was_training)
        return torch.cat(chunks) if chunks else torch.empty(0, self.dim)

    def embed_images(self, images: Sequence[np.ndarray], batch_size: int = 256) -> torch.Tensor:
        """L2-normalised image embeddings (N, d)."""
        return self.embed("image", images, batch_size)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """L2-normalised text embeddings (N, d)."""
        return self.embed("text", texts, batch_size)
