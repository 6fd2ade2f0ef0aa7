"""Towers and model wrappers shared by the Hugging Face families (and open_clip).

A :class:`Tower` registers only the submodules it runs, so ``"norm"`` and the presets of
:mod:`qshift.encoders.presets` see that tower's LayerNorms alone. The wrapped third-party model
is kept outside the module tree (:class:`WrappedModel`): only the towers are registered, and
moving or casting the encoder moves the whole model.

Mixed precision: weights stay float32; on CUDA the towers run under ``torch.autocast`` with
bf16/fp16. Autocast computes ``layer_norm`` in float32 (it is on autocast's fp32 op list for
CUDA), so the adapted LayerNorms keep float32 weights and float32 arithmetic; towers return
float32 embeddings. On CPU everything runs in float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from qshift.encoders.base import DualEncoder, ParamSpec, RetrievalModel
from qshift.encoders.presets import method_defaults_for, preset_for


def _batch_device(batch: Any) -> torch.device:
    """Device of a tensor batch or of the first tensor of a mapping batch."""
    if isinstance(batch, torch.Tensor):
        return batch.device
    return next(v.device for v in batch.values() if isinstance(v, torch.Tensor))


class Tower(nn.Module):
    """A query/gallery tower: runs :meth:`embed` (autocast on CUDA) and returns float32 (B, d)."""

    def __init__(self, parts: Mapping[str, nn.Module], amp_dtype: torch.dtype | None):
        super().__init__()
        for name, part in parts.items():
            self.add_module(name, part)
        self.amp_dtype = amp_dtype

    def embed(self, batch: Any) -> torch.Tensor:
        """Unnormalised embeddings of a prepared batch."""
        raise NotImplementedError

    def forward(self, batch: Any) -> torch.Tensor:
        device = _batch_device(batch)
        use_amp = self.amp_dtype is not None and device.type == "cuda"
        context = torch.autocast("cuda", dtype=self.amp_dtype) if use_amp else contextlib.nullcontext()
        with context:
            out = self.embed(batch)
        return out.float()


def pooled(output: Any) -> torch.Tensor:
    """The embedding of a feature getter: a tensor (transformers 4.x) or ``pooler_output`` (5.x)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class GetterTower(Tower):
    """A CLIP/SigLIP tower calling the model's ``get_image_features`` / ``get_text_features``.

    The full model is kept outside the module tree (only the parts the getter runs are
    registered); deep copies stay consistent because the getter is looked up at call time.
    """

    def __init__(
        self, model: PreTrainedModel, parts: Sequence[str], getter: str, amp_dtype: torch.dtype | None
    ):
        super().__init__({name: getattr(model, name) for name in parts}, amp_dtype)
        object.__setattr__(self, "_model", model)
        self.getter = getter

    def embed(self, batch: Any) -> torch.Tensor:
        features = getattr(self._model, self.getter)
        return pooled(features(pixel_values=batch) if isinstance(batch, torch.Tensor) else features(**batch))


class BlipImageTower(Tower):
    """BLIP ITC image embedding: ``vision_proj`` of the vision model's CLS token."""

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.vision_proj(self.vision_model(pixel_values=batch).last_hidden_state[:, 0])


class BlipTextTower(Tower):
    """BLIP ITC text embedding: ``text_proj`` of the CLS token of the unimodal text encoder."""

    def embed(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.text_encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self.text_proj(hidden.last_hidden_state[:, 0])


class WrappedModel(RetrievalModel):
    """A RetrievalModel whose towers share one third-party model kept outside the module tree.

    Only the towers are registered (no duplicated state-dict entries); ``_apply`` moves and
    casts the whole wrapped model too, so parts the towers do not own (buffers, unused heads)
    follow ``.to(device)``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        object.__setattr__(self, "_model", model)

    def _apply(self, fn: Any, recurse: bool = True) -> WrappedModel:
        self._model._apply(fn)
        return super()._apply(fn, recurse)


class WrappedModelEncoder(WrappedModel, DualEncoder):
    """The image–text case of :class:`WrappedModel` (a :class:`DualEncoder`)."""


class HFRetrievalModel(WrappedModel):
    """A Hugging Face model with one tower and one prepare step per modality, and a family preset.

    ``prepares`` maps each modality to a function from raw items to the tower's input (the
    tokenizer for text, log-mel features for audio, frame tensors for video).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        family: str,
        towers: Mapping[str, Tower],
        prepares: Mapping[str, Callable[[Sequence[Any]], Any]],
        dim: int,
        name: str,
    ):
        super().__init__(model)
        self.family = family
        self.towers = nn.ModuleDict(dict(towers))
        self.prepares = dict(prepares)
        self.modalities = tuple(towers)
        self.dim = dim
        self.name = name

    def tower(self, modality: str) -> nn.Module:
        self.check_modality(modality)
        return self.towers[modality]

    def prepare(self, modality: str, items: Sequence[Any]) -> Any:
        self.check_modality(modality)
        return self.prepares[modality](items)

    def adapt_params(self, task: str) -> ParamSpec:
        """The family's trainable set for the query tower of ``task`` (:mod:`qshift.encoders.presets`)."""
        return preset_for(self.family, task)

    def method_defaults(self, method: str, task: str) -> dict[str, Any]:
        return method_defaults_for(self.family, task)
