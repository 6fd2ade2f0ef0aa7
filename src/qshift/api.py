"""``qshift.evaluate``: one (model, dataset, direction, shift, method) run, end to end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from qshift import distributed
from qshift.data.base import RetrievalDataset
from qshift.data.queries import QueryBatches
from qshift.encoders.base import RetrievalModel
from qshift.engine import ResetPolicy, StreamResult, run_stream
from qshift.gallery import MIN_RECORD_K, Backend, Gallery, Record
from qshift.methods import build, get, hparam_names
from qshift.shifts import streams
from qshift.shifts.spec import parse_shift
from qshift.shifts.streams import PlannedBatch
from qshift.tasks import Task, get_task

#: the metrics every run reports (design.md's JSON contract); tasks add their own after them
CORE_METRICS = ("r1", "r5", "r10", "r_mean", "map")


@dataclass
class EvalResult:
    """One run's metrics (percent), geometry and bookkeeping; ``to_json()`` is the CLI contract."""

    model: str
    dataset: str
    direction: str
    shift: str
    method: str
    metrics: dict[str, float]
    uniformity_before: float | None
    uniformity_after: float
    gap_before: float | None
    gap_after: float
    queries: int
    seconds: float
    hparams: dict[str, Any] = field(default_factory=dict)
    stream: StreamResult | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``qshift run --json`` object (design.md CLI contract)."""
        return {
            "model": self.model,
            "dataset": self.dataset,
            "direction": self.direction,
            "shift": self.shift,
            "method": self.method,
            **{k: round(self.metrics[k], 4) for k in ("r1", "r5", "r10", "r_mean", "map")},
            **{k: round(v, 4) for k, v in self.metrics.items() if k not in CORE_METRICS},
            "uniformity_before": _round(self.uniformity_before),
            "uniformity_after": _round(self.uniformity_after),
            "gap_before": _round(self.gap_before),
            "gap_after": _round(self.gap_after),
            "queries": self.queries,
            "seconds": round(self.seconds, 3),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def resolve(
    encoder: RetrievalModel | str, dataset: RetrievalDataset | str
) -> tuple[RetrievalModel, RetrievalDataset]:
    """Load ``encoder``/``dataset`` from spec strings when they are not objects already."""
    if isinstance(encoder, str):
        from qshift.encoders import load_encoder

        encoder = load_encoder(encoder)
    if isinstance(dataset, str):
        from qshift.data import load_dataset

        dataset = load_dataset(dataset)
    return encoder, dataset


def embed_gallery(
    encoder: RetrievalModel, dataset: RetrievalDataset, direction: str | Task, workers: int = 4
) -> torch.Tensor:
    """Clean gallery embeddings of the task's gallery modality (captions for i2t, images for t2i,
    …), normalised, on CPU.

    Under torchrun each rank embeds a contiguous share and every rank gets all of them.
    """
    modality = get_task(direction).gallery
    if modality not in dataset.items:
        raise ValueError(
            f"dataset {dataset.name!r} has no {modality} items to make the gallery of {direction}"
        )
    items = dataset.items[modality]
    share = distributed.local_share(items)
    local = encoder.embed(modality, share, workers=workers)
    return distributed.gather_rows(local, distributed.world().sizes(len(items)))


def compile_forward(module: torch.nn.Module) -> None:
    """Route ``module``'s forward through ``torch.compile``, once.

    ``Module.compile()`` would leave built-in containers (``nn.Sequential``) uncompiled, since
    Dynamo skips torch's own module code; compiling the bound ``forward`` covers every module.
    """
    if not hasattr(module.forward, "_torchdynamo_orig_callable"):
        module.forward = torch.compile(module.forward)


def default_hparams(
    encoder: RetrievalModel, dataset: RetrievalDataset, method: str, direction: str
) -> dict[str, Any]:
    """Method defaults for this backbone and dataset: the dataset's T for methods without their own
    (:attr:`Adapter.default_temperature`), the backbone's parameter preset, the clean-query
    statistics stored with the model, and the backbone's hyper-parameters."""
    accepted = hparam_names(method)
    out: dict[str, Any] = {}
    if get(method).default_temperature is None:
        out["temperature"] = dataset.temperature
    if "params" in accepted:
        out["params"] = encoder.adapt_params(direction)
    stats = encoder.source_stats_path(direction)
    if "stats" in accepted and stats is not None:
        out["stats"] = str(stats)
    out.update(encoder.method_defaults(method, direction))
    return {k: v for k, v in out.items() if k in accepted}


def evaluate(
    encoder: RetrievalModel | str,
    dataset: RetrievalDataset | str,
    direction: str = "i2t",
    shift: str = "none",
    method: str = "tcr",
    *,
    batch_size: int = 64,
    seed: int = 0,
    hparams: dict[str, Any] | None = None,
    reset: ResetPolicy = "continual",
    stream: streams.StreamPlan | None = None,
    gallery: torch.Tensor | None = None,
    batches: Sequence[tuple[PlannedBatch, Any, np.ndarray]] | None = None,
    gallery_backend: Backend = "exact",
    gallery_dtype: torch.dtype = torch.float32,
    record: Record = "auto",
    record_k: int = MIN_RECORD_K,
    compile: bool = False,
    geometry: bool = True,
    workers: int = 2,
    shift_options: dict[str, Any] | None = None,
    progress: bool | str = False,
) -> EvalResult:
    """Adapt ``method`` online on the shifted queries of ``dataset`` and score every batch.

    ``stream`` overrides the default single-shift stream built from ``shift``, ``batch_size``
    and ``seed``. ``gallery`` passes precomputed clean gallery embeddings (as returned by
    :func:`embed_gallery`) and ``batches`` the prepared query batches of that stream (as
    :meth:`QueryBatches.iterate` yields them), to share both across methods. The encoder's
    weights are back at the source state when this returns.

    ``gallery_dtype`` stores the gallery on the encoder's device in that precision (float16
    halves it on a GPU; scores stay float32). ``record``/``record_k`` choose dense (B, N) or
    top-k recording (:class:`~qshift.gallery.Gallery`; "auto" switches to top-k above
    200,000 items, where mAP is mAP@k). ``compile`` runs the query tower through
    ``torch.compile``. Under torchrun (:mod:`qshift.distributed`) the work is shared by all
    ranks and every rank returns rank 0's result.
    """
    task = get_task(direction)
    direction = task.name
    encoder, dataset = resolve(encoder, dataset)
    queries = QueryBatches(
        encoder, dataset, direction, seed=seed, workers=workers, shift_options=shift_options
    )
    plan = stream or streams.single(queries.num_queries, parse_shift(shift), batch_size, seed)
    gallery_emb = embed_gallery(encoder, dataset, direction, workers) if gallery is None else gallery
    settings = {**default_hparams(encoder, dataset, method, direction), **(hparams or {})}
    tower = encoder.query_tower(direction)
    if compile:
        compile_forward(tower)
    gallery_bank = Gallery(
        gallery_emb,
        backend=gallery_backend,
        device=encoder.device,
        dtype=gallery_dtype,
        record=record,
        record_k=record_k,
    )
    adapter = build(method, tower, gallery_bank, **settings)
    try:
        result = run_stream(
            adapter,
            batches if batches is not None else distributed.prepared_batches(queries, plan),
            dataset.groups[task.gallery],
            reset=reset,
            geometry_before=geometry and method != "source",
            progress=progress,
            total=len(plan),
            excluded=dataset.excluded.get(task.name),
            subsets=dataset.subsets.get(task.name),
            extra_metrics=dataset.metrics,
        )
    finally:
        adapter.reset()
    before = result.geometry_before if method != "source" else result.geometry_after
    return EvalResult(
        model=getattr(encoder, "name", type(encoder).__name__),
        dataset=dataset.name,
        direction=direction,
        shift=plan.name if stream is not None else str(parse_shift(shift)),
        method=method,
        metrics=result.metrics,
        uniformity_before=before["uniformity"] if before else None,
        uniformity_after=result.geometry_after["uniformity"],
        gap_before=before["gap"] if before else None,
        gap_after=result.geometry_after["gap"],
        queries=result.queries,
        seconds=result.seconds,
        hparams={k: v for k, v in settings.items() if not callable(v)},
        stream=result,
    )
