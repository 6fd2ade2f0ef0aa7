"""Clean-query statistics of a query tower, the reference of the source-statistics methods.

A :class:`SourceStats` describes how a query tower behaves on *clean* queries: the mean and
per-dimension variance of its normalised output embeddings, and for every normalisation layer
(keyed by the layer's qualified name in the tower) the per-feature mean and variance of that
layer's output, taken over the batch and, for token sequences, over the real tokens (padding
excluded). Re-centering compares a stream's mean embedding with the clean one; alignment
compares a batch's layer statistics with the clean ones.

Size: two floats per feature of every normalisation layer plus two per embedding dimension —
for the scenes image tower 10 × 192 × 2 + 2 × 256 = 4,352 floats (17 KB in float32), for its
text tower 13 × 384 × 2 + 512 = 10,496 (41 KB). No query embeddings are stored.

Files are safetensors: tensors ``embedding.mean``, ``embedding.var`` and
``layer.<name>.mean`` / ``layer.<name>.var``, with the metadata (format, version, query count,
model, dataset, direction) in the safetensors header.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from qshift.methods.params import norm_parameters

FORMAT = "qshift-source-stats"
VERSION = "1"
_CHANNEL_FIRST = (nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


@dataclass
class SourceStats:
    """Clean-query statistics of one query tower (see the module docstring)."""

    embedding_mean: torch.Tensor  # (d,) mean of the normalised clean query embeddings
    embedding_var: torch.Tensor  # (d,) their per-dimension variance
    layers: dict[str, tuple[torch.Tensor, torch.Tensor]]  # layer name -> (mean (C,), var (C,))
    queries: int  # clean queries the statistics were taken over
    meta: dict[str, str] = field(default_factory=dict)  # model, dataset, direction

    def to(self, device: torch.device | str) -> SourceStats:
        """A copy on ``device`` (float32)."""
        move = lambda t: t.to(device=device, dtype=torch.float32)  # noqa: E731
        return SourceStats(
            move(self.embedding_mean),
            move(self.embedding_var),
            {name: (move(m), move(v)) for name, (m, v) in self.layers.items()},
            self.queries,
            dict(self.meta),
        )

    def save(self, path: str | Path) -> Path:
        """Write the statistics as safetensors (metadata in the header); returns the path."""
        from safetensors.torch import save_file

        tensors = {"embedding.mean": self.embedding_mean, "embedding.var": self.embedding_var}
        for name, (mean, var) in self.layers.items():
            tensors[f"layer.{name}.mean"] = mean
            tensors[f"layer.{name}.var"] = var
        tensors = {k: v.detach().float().cpu().contiguous() for k, v in tensors.items()}
        metadata = {"format": FORMAT, "version": VERSION, "queries": str(self.queries), **self.meta}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SourceStats:
        """Read statistics written by :meth:`save`; ValueError naming the file and the field."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise ValueError(f"source statistics file not found: {path}")
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = dict(handle.metadata() or {})
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except Exception as err:  # safetensors raises several types for a damaged header
            raise ValueError(f"source statistics {path}: not a readable safetensors file ({err})") from err
        if metadata.get("format") != FORMAT:
            raise ValueError(f"source statistics {path}: metadata field 'format' is not {FORMAT!r}")
        if metadata.get("version") != VERSION:
            raise ValueError(
                f"source statistics {path}: metadata field 'version' is {metadata.get('version')!r}, "
                f"this qshift reads {VERSION!r}"
            )
        try:
            queries = int(metadata["queries"])
        except (KeyError, ValueError):
            raise ValueError(
                f"source statistics {path}: metadata field 'queries' is missing or not an integer"
            ) from None
        for key in ("embedding.mean", "embedding.var"):
            if key not in tensors:
                raise ValueError(f"source statistics {path}: tensor {key!r} is missing")
        layers: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for key in tensors:
            if key.startswith("layer.") and key.endswith(".mean"):
                name = key[len("layer.") : -len(".mean")]
                var_key = f"layer.{name}.var"
                if var_key not in tensors:
                    raise ValueError(f"source statistics {path}: tensor {var_key!r} is missing")
                layers[name] = (tensors[key], tensors[var_key])
        meta = {k: v for k, v in metadata.items() if k not in ("format", "version", "queries")}
        return cls(tensors["embedding.mean"], tensors["embedding.var"], layers, queries, meta)


def resolve_stats(stats: SourceStats | str | Path | None) -> SourceStats | None:
    """``stats`` as a :class:`SourceStats`: loaded when it is a path, unchanged otherwise."""
    if stats is None or isinstance(stats, SourceStats):
        return stats
    if isinstance(stats, (str, Path)):
        return SourceStats.load(stats)
    raise ValueError(f"stats must be a SourceStats or a path to one, got {type(stats).__name__}")


def norm_layers(tower: nn.Module) -> dict[str, nn.Module]:
    """The tower's normalisation layers by qualified name: those owning a ``"norm"`` parameter."""
    owned = {id(p) for p in norm_parameters(tower)}
    return {
        name: module
        for name, module in tower.named_modules()
        if any(id(p) in owned for p in module.parameters(recurse=False))
    }


def token_mask(batch: Any) -> torch.Tensor | None:
    """The (B, T) mask of real tokens of a text batch (``attention_mask``), None otherwise."""
    if isinstance(batch, Mapping) and isinstance(batch.get("attention_mask"), torch.Tensor):
        return batch["attention_mask"].bool()
    return None


def feature_rows(output: torch.Tensor, module: nn.Module, mask: torch.Tensor | None) -> torch.Tensor:
    """A layer output as (rows, C): one row per query and real token, features last."""
    if isinstance(module, _CHANNEL_FIRST) and output.dim() > 2:
        output = output.movedim(1, -1)
    if mask is not None and output.dim() == 3 and output.shape[:2] == mask.shape:
        return output[mask]
    return output.reshape(-1, output.shape[-1])


class LayerRecorder:
    """Forward hooks on a tower's normalisation layers that keep each layer's feature rows.

    Only forwards run inside :meth:`capture` are recorded, so other forwards of the same tower
    (source embeddings for the geometry, probes) leave the record alone.
    """

    def __init__(self, tower: nn.Module):
        self.layers = norm_layers(tower)
        if not self.layers:
            raise ValueError("the query tower has no normalisation layers with affine parameters")
        self.rows: dict[str, torch.Tensor] = {}
        self._mask: torch.Tensor | None = None
        self._active = False
        self._handles = [
            module.register_forward_hook(self._hook(name)) for name, module in self.layers.items()
        ]

    def _hook(self, name: str):  # noqa: ANN202
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            if self._active and isinstance(output, torch.Tensor):
                self.rows[name] = feature_rows(output, module, self._mask)

        return record

    @contextmanager
    def capture(self, batch: Any) -> Iterator[None]:
        """Record the layer rows of the forwards run inside this block (masking padding)."""
        self.rows = {}
        self._mask, self._active = token_mask(batch), True
        try:
            yield
        finally:
            self._mask, self._active = None, False

    def remove(self) -> None:
        """Take the hooks off the tower."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


class _Moments:
    """Exact mean and variance over many row blocks (float64 sums)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.detach().double()
        total, squares = rows.sum(dim=0), (rows * rows).sum(dim=0)
        self.total = total if self.total is None else self.total + total
        self.squares = squares if self.squares is None else self.squares + squares
        self.count += rows.shape[0]

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.total is not None and self.squares is not None and self.count > 0
        mean = self.total / self.count
        var = (self.squares / self.count - mean * mean).clamp_min(0)
        return mean.float().cpu(), var.float().cpu()


@torch.no_grad()
def collect_source_stats(
    tower: nn.Module, batches: Iterable[Any], meta: Mapping[str, str] | None = None
) -> SourceStats:
    """Statistics of ``tower`` over prepared clean ``batches`` (eval mode, no gradient)."""
    recorder = LayerRecorder(tower)
    was_training = tower.training
    tower.eval()
    embedding, layers = _Moments(), {name: _Moments() for name in recorder.layers}
    try:
        for batch in batches:
            with recorder.capture(batch):
                out = tower(batch)
            if not isinstance(out, torch.Tensor) or out.dim() != 2:
                raise ValueError("the query tower must return a (B, d) tensor of embeddings")
            embedding.add(F.normalize(out.float(), dim=-1))
            for name, rows in recorder.rows.items():
                layers[name].add(rows)
    finally:
        recorder.remove()
        tower.train(was_training)
    if embedding.count == 0:
        raise ValueError("no clean query batches to take statistics over")
    missing = [name for name, moments in layers.items() if moments.count == 0]
    if missing:
        raise ValueError(f"normalisation layer(s) never ran in the tower's forward: {', '.join(missing)}")
    mean, var = embedding.result()
    return SourceStats(
        mean, var, {name: m.result() for name, m in layers.items()}, embedding.count, dict(meta or {})
    )
