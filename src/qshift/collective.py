"""The collectives qshift's online loop needs, and their identities in a single process.

:func:`world` tells this process's rank and the process group's size (rank 0 of 1 without
torchrun); :func:`gather_rows` and :func:`gather_rows_with_grad` concatenate every rank's rows,
:func:`all_reduce_grads` sums parameter gradients, :func:`broadcast_object` shares rank 0's
result. Without a process group every helper is the identity, so single-process runs take no
detour. Joining a group (torchrun) is :mod:`qshift.distributed`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def shard_sizes(total: int, world_size: int) -> list[int]:
    """Sizes of ``world_size`` contiguous shares of ``total`` items; the first ones get the remainder."""
    base, extra = divmod(total, world_size)
    return [base + (1 if rank < extra else 0) for rank in range(world_size)]


def shard_bounds(total: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of ``rank``'s contiguous share of ``total`` items."""
    sizes = shard_sizes(total, world_size)
    start = sum(sizes[:rank])
    return start, start + sizes[rank]


@dataclass(frozen=True)
class World:
    """This process's place in the process group (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """True when more than one process shares the work."""
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 accumulates metrics and writes results."""
        return self.rank == 0

    def sizes(self, total: int) -> list[int]:
        """Every rank's share of ``total`` items."""
        return shard_sizes(total, self.size)

    def shard(self, total: int) -> tuple[int, int]:
        """[start, stop) of this rank's share of ``total`` items."""
        return shard_bounds(total, self.rank, self.size)


def world() -> World:
    """The current process group as a :class:`World` (a single process when none is initialised)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def is_main() -> bool:
    """True on rank 0, and in every process that is not part of a process group."""
    return world().is_main


# -- collectives ------------------------------------------------------------------------------------
def gather_rows(local: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """Concatenate every rank's rows in rank order; rank r contributes ``sizes[r]`` rows.

    Shares may be uneven or empty: they are padded to the largest share for the collective and
    the padding is dropped again, so every row appears exactly once. No gradient flows.
    """
    current = world()
    if not current.active:
        return local
    if local.shape[0] != sizes[current.rank]:
        raise ValueError(
            f"rank {current.rank} holds {local.shape[0]} rows but its share is {sizes[current.rank]}"
        )
    width = max(sizes)
    if width == 0:
        return local
    rest = tuple(local.shape[1:])
    padded = local.detach()
    if padded.shape[0] < width:
        padded = torch.cat([padded, padded.new_zeros((width - padded.shape[0], *rest))])
    out = padded.new_empty((current.size * width, *rest))
    dist.all_gather([out[r * width : (r + 1) * width] for r in range(current.size)], padded.contiguous())
    if all(size == width for size in sizes):
        return out
    return torch.cat([out[r * width : r * width + size] for r, size in enumerate(sizes)])


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward hands each rank the gradient of its own rows only.

    Every rank computes the same loss from the same gathered tensor, so the gradient of the
    local share is the local slice of d(loss)/d(gathered): summing over ranks here would
    count the loss W times.
    """

    @staticmethod
    def forward(ctx: Any, local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        rank = world().rank
        start = sum(sizes[:rank])
        ctx.bounds = (start, start + sizes[rank])
        return gather_rows(local, sizes)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        start, stop = ctx.bounds
        return grad[start:stop].contiguous(), None


def gather_rows_with_grad(local: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """:func:`gather_rows` that lets the loss's gradient flow back into this rank's rows."""
    if not world().active:
        return local
    return _GatherWithGrad.apply(local, list(sizes))


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's picklable ``obj``, in rank order (``[obj]`` in a single process)."""
    current = world()
    if not current.active:
        return [obj]
    out: list[Any] = [None] * current.size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s picklable ``obj`` on every rank (``obj`` itself in a single process)."""
    if not world().active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


@torch.no_grad()
def all_reduce_grads(params: Sequence[nn.Parameter]) -> None:
    """Sum the gradients of ``params`` over ranks, in one float32 bucket.

    A parameter keeps ``grad=None`` only when it has none on every rank (so AdamW skips it as it
    would in one process); a rank that had no queries contributes zeros.
    """
    if not world().active or not params:
        return
    device = params[0].device
    present = torch.tensor([float(p.grad is not None) for p in params], device=device)
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in params]
        + [present]
    )
    dist.all_reduce(flat)
    offset = 0
    for param, seen in zip(params, flat[-len(params) :].tolist(), strict=True):
        count = param.numel()
        summed = flat[offset : offset + count].view_as(param).to(param.dtype)
        param.grad = summed if seen > 0 else None
        offset += count


@torch.no_grad()
def check_same_weights(module: nn.Module, name: str = "query tower") -> None:
    """ValueError when ``module``'s parameters and buffers differ between ranks.

    Compares per-tensor float64 sums (one collective): ranks that loaded different weights, or
    built a random model without a shared seed, would otherwise adapt silently apart.
    """
    if not world().active:
        return
    tensors = [*module.parameters(), *module.buffers()]
    if not tensors:
        return
    device = tensors[0].device
    sums = torch.stack([t.detach().to(device).double().sum() for t in tensors])
    extremes = torch.cat([sums, -sums])
    dist.all_reduce(extremes, op=dist.ReduceOp.MAX)
    high, low = extremes[: len(sums)], -extremes[len(sums) :]
    if not torch.all((high - low).abs() <= 1e-6 * (high.abs() + 1)):
        raise ValueError(
            f"{name} weights differ between ranks: every rank must load the same checkpoint "
            "(or seed a random model identically)"
        )


# -- sharding batches and item lists ------------------------------------------------------------------
def slice_batch(batch: Any, start: int, stop: int) -> Any:
    """Rows [start, stop) of a prepared batch (a tensor, a mapping of tensors or a sequence)."""
    if isinstance(batch, torch.Tensor):
        return batch[start:stop]
    if isinstance(batch, Mapping):
        return {k: v[start:stop] if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return batch[start:stop]


class ItemSlice(Sequence):
    """A contiguous window onto a sequence of items, fetched lazily (a rank's gallery share)."""

    def __init__(self, items: Sequence[Any], start: int, stop: int):
        self.items, self.start, self.stop = items, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> Any:  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} outside a slice of {len(self)}")
        return self.items[self.start + index]


def local_share(items: Sequence[Any]) -> ItemSlice:
    """This rank's contiguous share of ``items`` (all of them in a single process)."""
    start, stop = world().shard(len(items))
    return ItemSlice(items, start, stop)
