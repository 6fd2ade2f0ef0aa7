"""The RetrievalModel interface every backbone implements, and DualEncoder, its image–text case.

A RetrievalModel exposes, per modality it supports, a *tower* (an ``nn.Module`` from a
prepared batch to unnormalised (B, d) embeddings) and a *prepare* step (raw items → the
tower's input). The adapter only ever sees the query tower of the task; the gallery tower is
run once, frozen, to embed the gallery. A composed query tower (``image+text``) contains the
towers it composes, so adapting it reaches their normalisation layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from qshift.tasks import Task, get_task

#: a task name (``i2t``, ``t2i``, ``cir``, …); kept under its historical name
Direction = str
#: which parameters adapt: "norm", "all", or a callable returning them (see qshift.methods.params)
ParamSpec = str | Callable[[nn.Module], Iterable[nn.Parameter]]


def check_direction(direction: str | Task) -> str:
    """The name of the registered task ``direction``; ValueError otherwise."""
    return get_task(direction).name


def move_batch(batch: Any, device: torch.device | str) -> Any:
    """Move a prepared batch (a tensor, or a mapping or tuple of them, nested) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: move_batch(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return (
            type(batch)(*(move_batch(v, device) for v in batch))
            if hasattr(batch, "_fields")
            else tuple(move_batch(v, device) for v in batch)
        )
    return batch


def batch_tensors(batch: Any) -> list[torch.Tensor]:
    """Every tensor of a prepared batch (a tensor, or a mapping or tuple of them, nested)."""
    if isinstance(batch, torch.Tensor):
        return [batch]
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, tuple) else ()
    return [t for value in values for t in batch_tensors(value)]


def batch_bytes(batch: Any) -> int:
    """Bytes held by the tensors of a prepared batch."""
    return sum(t.numel() * t.element_size() for t in batch_tensors(batch))


def stats_file(anchor: Path, task: str) -> Path:
    """Where a model's clean-query statistics for ``task`` live: beside its weights file
    (``<stem>.stats-<task>.safetensors``) or inside its checkpoint directory."""
    if anchor.is_dir():
        return anchor / f"qshift.stats-{task}.safetensors"
    return anchor.with_name(f"{anchor.stem}.stats-{task}.safetensors")


class RetrievalModel(nn.Module):
    """A retrieval backbone: one tower and one prepare step per modality it supports.

    Subclasses implement :meth:`tower` and :meth:`prepare` for each modality in
    :attr:`modalities`, and set :attr:`dim` (the width of the shared embedding space).
    """

    #: width of the shared embedding space
    dim: int
    #: short name used in results (e.g. "scenes", "hf:openai/clip-vit-base-patch16")
    name: str = "encoder"
    #: the modalities this model embeds
    modalities: tuple[str, ...] = ()
    #: the weights file or checkpoint directory the model was loaded from (None: built in memory);
    #: clean-query statistics are looked up beside it (:func:`stats_file`)
    stats_anchor: Path | None = None

    def tower(self, modality: str) -> nn.Module:
        """Module mapping a prepared batch of ``modality`` to (B, d) embeddings."""
        raise NotImplementedError

    def prepare(self, modality: str, items: Sequence[Any]) -> Any:
        """Turn raw items of ``modality`` into the tower's input (tensors or a mapping of them)."""
        raise NotImplementedError

    def adapt_params(self, task: str) -> ParamSpec:
        """Trainable-parameter preset for adapting the query tower of ``task``.

        The default is the general ``"norm"`` rule; backbones override it to reproduce the
        paper's trainable sets.
        """
        return "norm"

    def method_defaults(self, method: str, task: str) -> dict[str, Any]:
        """Backbone-specific hyper-parameter defaults (e.g. BLIP t2i lr 3e-5); {} by default."""
        return {}

    def source_stats_path(self, task: str) -> Path | None:
        """The clean-query statistics stored with this model for ``task``'s query tower, if any.

        Written by ``qshift stats``; methods that compare the stream with clean queries
        (``recenter``, ``align``, …) read them.
        """
        if self.stats_anchor is None:
            return None
        path = stats_file(self.stats_anchor, get_task(task).name)
        return path if path.is_file() else None

    # -- derived helpers -------------------------------------------------------------------
    def check_modality(self, modality: str) -> None:
        """ValueError when this model has no tower for ``modality``."""
        if modality not in self.modalities:
            raise ValueError(
                f"{self.name} embeds {', '.join(self.modalities) or 'nothing'}, not {modality!r}"
            )

    def query_tower(self, task: str | Task) -> nn.Module:
        """The tower whose normalisation layers adapt: the one of the task's query modality."""
        modality = get_task(task).query
        self.check_modality(modality)
        return self.tower(modality)

    def gallery_tower(self, task: str | Task) -> nn.Module:
        """The frozen tower that embeds the gallery once."""
        modality = get_task(task).gallery
        self.check_modality(modality)
        return self.tower(modality)

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters (CPU when it has none)."""
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    @torch.no_grad()
    def embed(
        self, modality: str, items: Sequence[Any], batch_size: int = 256, workers: int = 4
    ) -> torch.Tensor:
        """L2-normalised embeddings of raw items, in eval mode without gradient.

        Items are fetched by index (lazy sources load here) with a thread pool.
        """
        self.check_modality(modality)
        tower = self.tower(modality)
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


class DualEncoder(RetrievalModel):
    """An image–text retrieval model: an image tower, a text tower and their preprocessing.

    Subclasses implement :meth:`image_tower`, :meth:`text_tower`, :meth:`prepare_images`
    and :meth:`prepare_texts`. Towers take the *prepared* batch (a (B, C, H, W) tensor for
    images, a mapping of tensors for texts) and return unnormalised (B, d) embeddings.
    """

    modalities = ("image", "text")

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

    def tower(self, modality: str) -> nn.Module:
        self.check_modality(modality)
        return self.image_tower() if modality == "image" else self.text_tower()

    def prepare(self, modality: str, items: Sequence[Any]) -> Any:
        self.check_modality(modality)
        return self.prepare_images(items) if modality == "image" else self.prepare_texts(items)

    def embed_images(self, images: Sequence[np.ndarray], batch_size: int = 256) -> torch.Tensor:
        """L2-normalised image embeddings (N, d)."""
        return self.embed("image", images, batch_size)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """L2-normalised text embeddings (N, d)."""
        return self.embed("text", texts, batch_size)
