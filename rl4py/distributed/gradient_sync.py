"""Gradient synchronization for users who own their training loop (no Lightning)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import torch
import torch.distributed as dist

__all__ = ["GradientSync", "LocalSync", "TorchDistributedSync", "sync_gradients"]


@runtime_checkable
class GradientSync(Protocol):
    """What a plain loop needs from a process group."""

    @property
    def rank(self) -> int:
        """This process's index, ``0 <= rank < world_size``."""

    @property
    def world_size(self) -> int:
        """Number of processes."""

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sums ``tensor`` over all processes, in place; returns it."""

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """Averages ``tensor`` over all processes, in place; returns it."""

    def barrier(self) -> None:
        """Waits for every process."""


class LocalSync:
    """The single-process implementation: rank 0 of 1, every reduction is the identity."""

    rank = 0
    world_size = 1

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def barrier(self) -> None:
        return None


class TorchDistributedSync:
    """:class:`GradientSync` over an initialized ``torch.distributed`` process group.

    Args:
        group: the process group (``None``: the default group).

    Raises:
        RuntimeError: ``torch.distributed`` is not initialized (call ``init_process_group`` first,
            or run under ``torchrun``).
    """

    def __init__(self, group: dist.ProcessGroup | None = None) -> None:
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "TorchDistributedSync: torch.distributed is not initialized; call "
                "torch.distributed.init_process_group(...) first (torchrun sets the environment for it)"
            )
        self.group = group

    @property
    def rank(self) -> int:
        return dist.get_rank(self.group)

    @property
    def world_size(self) -> int:
        return dist.get_world_size(self.group)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=self.group)
        return tensor

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=self.group)
        return tensor.div_(self.world_size)

    def barrier(self) -> None:
        dist.barrier(group=self.group)


def sync_gradients(parameters: Iterable[torch.nn.Parameter], sync: GradientSync) -> None:
    """Averages the ``.grad`` of ``parameters`` over all processes with one flat all-reduce.

    Call it between ``backward()`` and ``optimizer.step()`` (every process must pass the same
    parameters in the same order). Parameters with ``requires_grad=False`` are skipped. A
    parameter without a gradient on some process contributes zeros there; one without a
    gradient on every process keeps ``grad=None``, as in a single-process run (so weight decay
    or momentum does not move it only when training on several processes).
    """
    params = [p for p in parameters if p.requires_grad]
    if sync.world_size == 1 or not params:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    # one more entry per parameter: how many processes had a gradient for it (reduced with the rest)
    has_grad = torch.tensor([p.grad is not None for p in params], dtype=flat.dtype, device=flat.device)
    packed = torch.cat([flat, has_grad])
    sync.all_reduce_mean(packed)
    flat = packed[: flat.numel()]
    # reading the flags back is a host sync: only needed when this process lacks a gradient
    missing = any(p.grad is None for p in params)
    some_grad = (packed[flat.numel() :] > 0).tolist() if missing else [True] * len(params)
    offset = 0
    for p, some in zip(params, some_grad):
        n = p.numel()
        chunk = flat[offset : offset + n].view_as(p)
        if p.grad is not None:
            p.grad.copy_(chunk)
        elif some:
            p.grad = chunk.clone()
        offset += n
