"""The ``scenes-cir`` source model: the scenes towers and a Combiner for composed queries.

Image tower: the shipped scenes ViT (frozen during this model's training; its weights are the
scenes model's, checked by hash at load). Text tower: all-MiniLM-L6-v2 with the scenes caption
projection. Composed tower (``image+text``): the ViT embeds the reference, MiniLM mean-pools
the modification text, and a :class:`Combiner` fuses them, after the Combiner of CLIP4Cir
(Baldrati et al., "Effective conditioned and composed image retrieval combining CLIP-based
features", CVPR 2022): both features are projected and concatenated, an MLP maps the
concatenation into the image space, and a learned gate mixes in the text and image features
themselves (a gated residual sum). Here the concatenation passes a LayerNorm, the one
normalisation layer of the Combiner, and the text feature enters through its own 384 → 256
projection, initialised from the caption projection.

Adapting the composed tower with ``params="norm"`` reaches 24 LayerNorms (15,872 parameters):
10 of the ViT (``ln_pre``, two per block, ``ln_post``), 13 of MiniLM (the embedding LayerNorm
and two per layer) and the Combiner's one (:func:`norm_layer_names` lists them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from qshift.encoders.base import RetrievalModel
from qshift.encoders.scenes import DEFAULT_WEIGHTS, SceneEncoder, load_scenes_encoder
from qshift.methods.params import NORM_TYPES
from qshift.tasks import ComposedQuery

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_CIR_WEIGHTS = ASSETS / "scenes_cir.safetensors"


class Combiner(nn.Module):
    """Fuses a reference-image feature and a pooled text feature into a target-image feature."""

    def __init__(self, dim: int = 256, text_dim: int = 384, proj: int = 512, hidden: int = 1024):
        super().__init__()
        self.config = {"dim": dim, "text_dim": text_dim, "proj": proj, "hidden": hidden}
        self.text_in = nn.Linear(text_dim, dim)
        self.image_proj = nn.Linear(dim, proj)
        self.text_proj = nn.Linear(dim, proj)
        self.norm = nn.LayerNorm(2 * proj)
        self.mix = nn.Sequential(nn.Linear(2 * proj, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.gate = nn.Sequential(nn.Linear(2 * proj, hidden // 4), nn.ReLU(), nn.Linear(hidden // 4, 1))

    def forward(self, image: torch.Tensor, text: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        """(B, dim) image and (B, text_dim) pooled text features → (B, dim), unnormalised.

        ``dropout`` (training only) drops the projected features and the MLP's hidden units, as
        CLIP4Cir does; evaluation and adaptation use none, so train and eval mode agree.
        """
        i = F.normalize(image, dim=-1)
        t = F.normalize(self.text_in(text), dim=-1)
        h = torch.cat([F.relu(self.image_proj(i)), F.relu(self.text_proj(t))], dim=-1)
        h = F.dropout(self.norm(h), dropout, training=dropout > 0)
        hidden = F.dropout(F.relu(self.mix[0](h)), dropout, training=dropout > 0)
        gate = torch.sigmoid(self.gate(h))
        return self.mix[2](hidden) + gate * t + (1 - gate) * i


class ComposedTower(nn.Module):
    """``{"image": pixels, "text": tokens}`` → combined features: ViT, MiniLM pooling, Combiner."""

    def __init__(self, vision: nn.Module, text: nn.Module, combiner: Combiner):
        super().__init__()
        self.vision = vision
        self.text = text
        self.combiner = combiner

    def forward(self, batch: Mapping[str, Any]) -> torch.Tensor:
        return self.combiner(self.vision(batch["image"]), self.text.pool(batch["text"]))


class SceneCIRModel(RetrievalModel):
    """The scenes towers plus a Combiner: modalities ``image``, ``text`` and ``image+text``."""

    name = "scenes-cir"
    modalities = ("image", "text", "image+text")

    def __init__(self, scenes: SceneEncoder, combiner: Combiner):
        super().__init__()
        self.scenes = scenes
        self.dim = scenes.dim
        self.composed = ComposedTower(scenes.vision, scenes.text, combiner)

    @property
    def combiner(self) -> Combiner:
        return self.composed.combiner

    def tower(self, modality: str) -> nn.Module:
        self.check_modality(modality)
        if modality == "image+text":
            return self.composed
        return self.scenes.tower(modality)

    def prepare(self, modality: str, items: Sequence[Any]) -> Any:
        self.check_modality(modality)
        if modality != "image+text":
            return self.scenes.prepare(modality, items)
        for i, item in enumerate(items):
            if not isinstance(item, ComposedQuery):
                raise ValueError(
                    f"item {i}: composed queries are ComposedQuery(image, text), got {type(item).__name__}"
                )
        return {
            "image": self.scenes.prepare_images([q.image for q in items]),
            "text": self.scenes.prepare_texts([q.text for q in items]),
        }

    def method_defaults(self, method: str, task: str) -> dict[str, Any]:
        """The scenes model's defaults for its own tasks; composed queries keep the paper's."""
        return self.scenes.method_defaults(method, task)


def norm_layer_names(model: SceneCIRModel) -> list[str]:
    """The normalisation layers ``params="norm"`` adapts in the composed tower, by module name."""
    return [name for name, m in model.composed.named_modules() if isinstance(m, NORM_TYPES)]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (the image tower's weights are pinned by it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def combiner_state(combiner: Combiner) -> dict[str, torch.Tensor]:
    """What ships: the Combiner's parameters (the towers are the scenes model's)."""
    return {f"combiner.{k}": v.detach().half().contiguous() for k, v in combiner.state_dict().items()}


def load_scenes_cir_model(weights: str | Path | None = None) -> SceneCIRModel:
    """The model from ``weights`` (default: the shipped asset), its JSON and the scenes weights it names."""
    path = Path(weights) if weights is not None else DEFAULT_CIR_WEIGHTS
    cfg_file = path.with_suffix(".json")
    for needed in (path, cfg_file):
        if not needed.is_file():
            raise FileNotFoundError(
                f"scenes-cir model file not found: {needed} "
                f"(run `qshift pretrain scenes-cir --out {path.parent}`)"
            )
    try:
        config: dict[str, Any] = json.loads(cfg_file.read_text())
        combiner = Combiner(**config["combiner"])
        pinned = config["scenes_weights_sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"bad scenes-cir model config {cfg_file}: {err}") from err
    if file_sha256(DEFAULT_WEIGHTS) != pinned:
        raise ValueError(
            f"scenes-cir weights {path} were trained on other scenes weights than {DEFAULT_WEIGHTS} "
            "(sha256 differs): retrain them with `qshift pretrain scenes-cir`"
        )
    state = {
        k[len("combiner.") :]: v.float() for k, v in load_file(str(path)).items() if k.startswith("combiner.")
    }
    try:
        combiner.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"scenes-cir weights {path} do not match their config {cfg_file}: {err}") from err
    model = SceneCIRModel(load_scenes_encoder(), combiner)
    model.stats_anchor = path
    return model.eval()


def load_spec(spec: str, device: torch.device | str = "cpu", precision: str = "auto") -> SceneCIRModel:
    """``scenes-cir`` (the shipped weights) or ``scenes-cir:<weights.safetensors>`` on ``device``."""
    return load_scenes_cir_model(spec.partition(":")[2] or None).to(device)
