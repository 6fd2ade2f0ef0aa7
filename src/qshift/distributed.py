"""torchrun integration: one online adaptation run spread over W processes (design.md "Scale").

``torchrun --nproc_per_node W -m qshift run …`` starts W processes; :func:`init_from_env`
joins them in a ``torch.distributed`` process group (gloo on CPU; gloo for CPU tensors and
NCCL for CUDA tensors when CUDA is available, each rank on ``cuda:LOCAL_RANK``). Then:

- the gallery is embedded in contiguous shards, one per rank, and all-gathered in the
  original order (:func:`gather_rows`: uneven shards, no padding left in the result);
- every global query batch is split into contiguous shares (uneven; a rank may get none):
  each rank loads, shifts and preprocesses only its share (:func:`prepared_batches`), the
  prepared shares are all-gathered so that every rank holds the global batch (methods such as
  DeYO and SAR re-embed transformed copies of it), and the adapter runs the query tower on its
  share only and all-gathers the embeddings *with gradient* (:func:`gather_rows_with_grad`);
- every rank computes the same loss on the same global embeddings, so the gradient of a rank's
  share is its slice of d(loss)/dz; the parameter gradients of the shares are then summed
  (:func:`all_reduce_grads`) and every rank takes the same optimizer step: parameters stay
  identical and a W-process run reproduces the 1-process run up to float rounding.

The collectives themselves live in :mod:`qshift.collective` (re-exported here); without a
process group every helper is the identity, so single-process runs take no detour.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from qshift.collective import (
    ItemSlice,
    World,
    all_reduce_grads,
    broadcast_object,
    check_same_weights,
    gather_objects,
    gather_rows,
    gather_rows_with_grad,
    is_main,
    local_share,
    shard_bounds,
    shard_sizes,
    slice_batch,
    world,
)

if TYPE_CHECKING:
    from qshift.data.queries import QueryBatches
    from qshift.shifts.streams import PlannedBatch, StreamPlan

__all__ = [
    "TORCHRUN_VARIABLES",
    "ItemSlice",
    "World",
    "all_reduce_grads",
    "broadcast_object",
    "check_same_weights",
    "gather_objects",
    "gather_rows",
    "gather_rows_with_grad",
    "init_from_env",
    "is_main",
    "local_share",
    "prepared_batches",
    "shard_bounds",
    "shard_sizes",
    "slice_batch",
    "torchrun_session",
    "world",
]

#: variables torchrun sets for every worker (``env://`` rendezvous)
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def init_from_env(timeout: timedelta = timedelta(minutes=30), init_method: str = "env://") -> World:
    """Join the process group torchrun describes in the environment; a no-op outside torchrun.

    Idempotent. ``init_method`` is torch's rendezvous: ``env://`` (torchrun's MASTER_ADDR and
    MASTER_PORT) or e.g. ``file:///shared/rendezvous`` (no port to race for). With CUDA
    available, rank ``LOCAL_RANK`` is pinned to ``cuda:LOCAL_RANK`` and the group gets NCCL for
    CUDA tensors and gloo for CPU tensors; otherwise gloo only.
    """
    if dist.is_available() and dist.is_initialized():
        return world()
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    needed = TORCHRUN_VARIABLES if init_method.startswith("env://") else ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    missing = [name for name in needed if name not in os.environ]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={size} but {', '.join(missing)} unset: launch multi-process runs with torchrun"
        )
    if not dist.is_available():
        raise ValueError("this torch build has no torch.distributed: multi-process runs need it")
    local_rank = int(os.environ["LOCAL_RANK"])
    backend = "gloo"
    if torch.cuda.is_available():
        visible = torch.cuda.device_count()
        if local_rank >= visible:
            raise ValueError(
                f"LOCAL_RANK {local_rank} but only {visible} CUDA device(s) visible: use "
                f"--nproc_per_node <= {visible}, or CUDA_VISIBLE_DEVICES= for a CPU run"
            )
        torch.cuda.set_device(local_rank)
        backend = "cpu:gloo,cuda:nccl"
    rank = int(os.environ["RANK"])
    dist.init_process_group(backend, init_method=init_method, timeout=timeout, rank=rank, world_size=size)
    return world()


@contextmanager
def torchrun_session(init_method: str = "env://") -> Iterator[World]:
    """Join torchrun's process group for the duration of the block and leave it afterwards."""
    joined = not (dist.is_available() and dist.is_initialized())
    current = init_from_env(init_method=init_method)
    try:
        yield current
    finally:
        if joined and current.active and dist.is_initialized():
            dist.destroy_process_group()


def prepared_batches(queries: QueryBatches, plan: StreamPlan) -> Iterator[tuple[PlannedBatch, Any, Any]]:
    """:meth:`QueryBatches.iterate` with every rank preparing only its share of each batch.

    Images (and other untokenised items): each rank loads, shifts and preprocesses its share,
    and the preprocessed shares are all-gathered. Captions (and composed queries holding text):
    each rank shifts its share, the shifted items are all-gathered and every rank prepares the
    whole batch, so tokeniser padding matches the 1-process run. Each rank prepares its next
    share in a background thread while the current batch adapts; all collectives stay on the
    calling thread, in the same order on every rank.
    """
    current = world()
    if not current.active:
        yield from queries.iterate(plan)
        return

    def share(batch: PlannedBatch, pool: ThreadPoolExecutor) -> Any:
        return _local_part(queries, batch, current, pool)

    for batch, local, groups in queries.iterate(plan, prepare=share):
        yield batch, _assemble(queries, gather_objects(local)), groups


def _local_part(queries: QueryBatches, batch: PlannedBatch, current: World, pool: ThreadPoolExecutor) -> Any:
    """This rank's share of ``batch``: prepared images, shifted captions, or None when empty."""
    from qshift.shifts.streams import PlannedBatch

    start, stop = current.shard(len(batch))
    pairs = list(zip(batch.indices[start:stop].tolist(), batch.shifts[start:stop], strict=True))
    if queries.gathers_raw_items:
        return [queries.raw_item(i, s) for i, s in pairs]
    if not pairs:
        return None
    share = PlannedBatch(batch.indices[start:stop], batch.shifts[start:stop], batch.label, batch.probe)
    return queries.prepare(share, pool)


def _assemble(queries: QueryBatches, parts: list[Any]) -> Any:
    """The global prepared batch from every rank's part, in rank order."""
    if queries.gathers_raw_items:
        return queries.encoder.prepare(queries.modality, [item for part in parts for item in part])
    return torch.cat([part for part in parts if part is not None])
