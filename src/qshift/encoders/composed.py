"""Composed image+text queries on a dual encoder: the ``sum`` baseline and a trained combiner.

A composed query (:class:`~qshift.tasks.ComposedQuery`: a reference image and a modification
text) is embedded by a :class:`ComposedTower` that *contains* the dual encoder's image tower,
its text tower and a composer, so adapting the query tower of the ``cir`` task reaches the
normalisation layers of both towers:

- ``sum`` (:class:`SumComposer`): normalised image feature + normalised text feature, the
  standard zero-shot "image + text" baseline. Every :class:`ComposedQueries` encoder (the
  Hugging Face CLIP, SigLIP and BLIP encoders, ``hf:<dir>``) composes this way by default.
- ``combiner:<checkpoint.safetensors>`` (:func:`load_spec`): a trained :class:`Combiner` (the
  design of CLIP4Cir's Combiner, Baldrati et al., CVPR 2022 workshops: the two features
  projected, concatenated and mixed by an MLP, plus a gated residual sum of the two features,
  the gate a small MLP of the same concatenation) on the base model its JSON sidecar records.
  Written by ``qshift pretrain combiner`` (:mod:`qshift.encoders.combiner_train`).

qshift feeds the combiner L2-normalised features (CLIP4Cir feeds CLIP's raw features), so its
residual sum interpolates the same unit vectors the ``sum`` baseline adds, whatever the
backbone's feature scale.

**Which parameters adapt.** The backbone's ``cir`` preset (:mod:`qshift.encoders.presets`,
the default ``params`` of :func:`qshift.evaluate`) takes the image preset of the family on the
image tower (CLIP: every vision LayerNorm), its text preset on the text tower (CLIP: the text
LayerNorms but ``final_layer_norm``) and every LayerNorm of the composer (the combiner has
none: it adapts through the towers). ``params="norm"`` takes every normalisation layer of the
composed tower: both towers' LayerNorms, ``final_layer_norm`` included.

A prepared composed batch is one flat mapping (the engine's batch helpers slice flat mappings):
``image`` (or ``image.<key>``) for the image part and ``text.<key>`` (or ``text``) for the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from qshift.utils.annotations import read_json

#: the composed modality
COMPOSED = "image+text"
#: version of the combiner checkpoint's JSON sidecar
CHECKPOINT_FORMAT = 1


# -- composers ----------------------------------------------------------------------------------
class SumComposer(nn.Module):
    """``normalize(image) + normalize(text)``: the zero-shot composition baseline."""

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(image.float(), dim=-1) + F.normalize(text.float(), dim=-1)


class Combiner(nn.Module):
    """CLIP4Cir's Combiner design on normalised features (written anew; the module docstring).

    ``out = W_o · drop(relu(W_c · [p_t, p_i])) + λ · t + (1 − λ) · i`` with the projections
    ``p_t = drop(relu(W_t · t))``, ``p_i = drop(relu(W_i · i))`` and the gate
    ``λ = σ(W_2 · drop(relu(W_1 · [p_t, p_i])))``; dropout 0.5 as in CLIP4Cir.
    """

    def __init__(
        self, dim: int, projection_dim: int | None = None, hidden_dim: int | None = None, dropout: float = 0.5
    ):
        super().__init__()
        if dim < 1:
            raise ValueError(f"combiner feature width must be >= 1, got {dim}")
        self.dim = dim
        # CLIP4Cir's RN50x4 setting: projection 2560 and hidden 5120 on 640-d features
        self.projection_dim = projection_dim or 4 * dim
        self.hidden_dim = hidden_dim or 8 * dim
        if self.projection_dim < 1 or self.hidden_dim < 1:
            raise ValueError("combiner projection and hidden widths must be >= 1")
        if not 0 <= dropout < 1:
            raise ValueError(f"combiner dropout must lie in [0, 1), got {dropout}")
        self.dropout = dropout
        self.text_projection = nn.Linear(dim, self.projection_dim)
        self.image_projection = nn.Linear(dim, self.projection_dim)
        self.mix = nn.Linear(2 * self.projection_dim, self.hidden_dim)
        self.output = nn.Linear(self.hidden_dim, dim)
        self.gate = nn.Sequential(
            nn.Linear(2 * self.projection_dim, self.hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(self.hidden_dim, 1),
            nn.Sigmoid(),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        image, text = F.normalize(image.float(), dim=-1), F.normalize(text.float(), dim=-1)
        joint = torch.cat(
            [self.drop(F.relu(self.text_projection(text))), self.drop(F.relu(self.image_projection(image)))],
            dim=-1,
        )
        gate = self.gate(joint)
        return self.output(self.drop(F.relu(self.mix(joint)))) + gate * text + (1 - gate) * image

    def config(self) -> dict[str, Any]:
        """The widths and dropout that rebuild this combiner."""
        return {
            "dim": self.dim,
            "projection_dim": self.projection_dim,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
        }


# -- the composed tower -------------------------------------------------------------------------
def flatten_part(part: str, prepared: Any) -> dict[str, Any]:
    """One part's prepared batch as flat entries: ``{part: tensor}`` or ``{part.key: value}``."""
    if isinstance(prepared, Mapping):
        return {f"{part}.{key}": value for key, value in prepared.items()}
    return {part: prepared}


def part_of(batch: Mapping[str, Any], part: str) -> Any:
    """The prepared batch of one part of a flat composed batch (inverse of :func:`flatten_part`)."""
    if part in batch:
        return batch[part]
    prefix = f"{part}."
    found = {key[len(prefix) :]: value for key, value in batch.items() if key.startswith(prefix)}
    if not found:
        raise ValueError(f"composed batch has no {part} part (keys: {', '.join(batch)})")
    return found


class ComposedTower(nn.Module):
    """Reference image and modification text → (B, d): ``compose(image tower, text tower)``."""

    def __init__(self, image: nn.Module, text: nn.Module, compose: nn.Module):
        super().__init__()
        self.image = image
        self.text = text
        self.compose = compose

    def forward(self, batch: Mapping[str, Any]) -> torch.Tensor:
        return self.compose(self.image(part_of(batch, "image")), self.text(part_of(batch, "text")))


class ComposedQueries:
    """Mixin for a :class:`~qshift.encoders.base.DualEncoder`: the composed modality ``image+text``.

    The composed tower holds the encoder's own image and text towers and its composer: the
    :class:`SumComposer` unless :meth:`set_composer` registered another (a trained
    :class:`Combiner`, then part of the encoder's state and device moves).
    """

    modalities = ("image", "text", COMPOSED)

    def set_composer(self, composer: nn.Module, name: str | None = None) -> None:
        """Compose queries with ``composer`` from now on (and rename the model when ``name``)."""
        self.add_module("composer", composer)  # type: ignore[attr-defined]
        self.__dict__.pop("_composed_tower", None)
        if name is not None:
            self.name = name

    def tower(self, modality: str) -> nn.Module:
        if modality != COMPOSED:
            return super().tower(modality)  # type: ignore[misc]
        if "_composed_tower" not in self.__dict__:  # kept out of the module tree: no duplicate state
            composer = self._modules.get("composer") or SumComposer()  # type: ignore[attr-defined]
            tower = ComposedTower(super().tower("image"), super().tower("text"), composer)  # type: ignore[misc]
            self.__dict__["_composed_tower"] = tower.train(self.training)  # type: ignore[attr-defined]
        return self.__dict__["_composed_tower"]

    def prepare(self, modality: str, items: Sequence[Any]) -> Any:
        if modality != COMPOSED:
            return super().prepare(modality, items)  # type: ignore[misc]
        images = [item[0] for item in items]
        texts = [item[1] for item in items]
        return {
            **flatten_part("image", super().prepare("image", images)),  # type: ignore[misc]
            **flatten_part("text", super().prepare("text", texts)),  # type: ignore[misc]
        }


# -- combiner checkpoints -----------------------------------------------------------------------
def config_path(weights: str | Path) -> Path:
    """The JSON sidecar of a combiner checkpoint: same name, ``.json``."""
    return Path(weights).with_suffix(".json")


def save_combiner(combiner: Combiner, weights: str | Path, base: str, training: dict[str, Any]) -> Path:
    """Write ``weights`` (safetensors) and its JSON sidecar recording the base model spec."""
    from safetensors.torch import save_file

    from qshift.utils.io import write_atomic, write_json

    weights = Path(weights)
    state = {k: v.detach().cpu().contiguous() for k, v in combiner.state_dict().items()}
    write_atomic(weights, lambda tmp: save_file(state, str(tmp)))
    config = {"format": CHECKPOINT_FORMAT, "base": base, **combiner.config(), "training": training}
    write_json(config_path(weights), config)
    return weights


def read_config(weights: Path) -> dict[str, Any]:
    """The sidecar of ``weights``, its fields checked; errors name the file and the field."""
    path = config_path(weights)
    config = read_json(path, dict, "combiner config (written next to the weights)")
    if config.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: field 'format' must be {CHECKPOINT_FORMAT}, got {config.get('format')!r}")
    if not isinstance(config.get("base"), str) or not config["base"]:
        raise ValueError(f"{path}: field 'base' must name the base model spec (e.g. hf:<dir>)")
    for field in ("dim", "projection_dim", "hidden_dim"):
        if not isinstance(config.get(field), int) or isinstance(config.get(field), bool) or config[field] < 1:
            raise ValueError(f"{path}: field {field!r} must be a positive integer, got {config.get(field)!r}")
    if not isinstance(config.get("dropout"), int | float):
        raise ValueError(f"{path}: field 'dropout' must be a number, got {config.get('dropout')!r}")
    return config


def load_combiner(weights: str | Path) -> tuple[Combiner, dict[str, Any]]:
    """The combiner stored at ``weights`` and its config (eval mode, CPU)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"combiner weights not found: {weights}")
    config = read_config(weights)
    combiner = Combiner(
        config["dim"], config["projection_dim"], config["hidden_dim"], float(config["dropout"])
    )
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{weights}: not a safetensors file ({err})") from err
    try:
        combiner.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(
            f"{weights}: weights do not fit the combiner of {config_path(weights)}: {first}"
        ) from None
    return combiner.eval(), config


def load_spec(spec: str, device: torch.device | str | None = None, precision: str = "auto") -> Any:
    """``combiner:<weights.safetensors>``: the recorded base model composing with the combiner."""
    from qshift.encoders import load_encoder

    weights = spec.partition(":")[2]
    if not weights:
        raise ValueError(f"bad encoder spec {spec!r}: expected combiner:<weights.safetensors>")
    combiner, config = load_combiner(weights)
    base = load_encoder(config["base"], device=device, precision=precision)
    if not isinstance(base, ComposedQueries):
        raise ValueError(f"{config_path(weights)}: base model {config['base']!r} has no composed queries")
    if base.dim != combiner.dim:
        where, recorded = config_path(weights), config["base"]
        raise ValueError(f"{where}: field 'dim' is {combiner.dim} but {recorded} gives {base.dim}-d features")
    base.set_composer(combiner.to(base.device), name=spec)
    return base
