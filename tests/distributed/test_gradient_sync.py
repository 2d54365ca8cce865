from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rl4py.distributed import GradientSync, LocalSync, TorchDistributedSync, sync_gradients


def test_local_sync_is_identity():
    sync = LocalSync()
    assert isinstance(sync, GradientSync)
    t = torch.tensor([1.0, 2.0])
    assert sync.all_reduce_mean(t) is t and t.tolist() == [1.0, 2.0]
    layer = torch.nn.Linear(2, 1)
    layer(torch.ones(1, 2)).sum().backward()
    before = layer.weight.grad.clone()
    sync_gradients(layer.parameters(), sync)
    assert torch.equal(layer.weight.grad, before)


def test_uninitialized_process_group_raises():
    with pytest.raises(RuntimeError, match="init_process_group"):
        TorchDistributedSync()


def _worker(rank: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    sync = TorchDistributedSync()
    layer = torch.nn.Linear(3, 1)
    torch.nn.init.constant_(layer.weight, 1.0)
    torch.nn.init.constant_(layer.bias, 0.0)
    frozen = torch.nn.Parameter(torch.ones(2), requires_grad=False)
    unused = torch.nn.Parameter(torch.ones(2))  # no process computes a gradient for it
    only_rank1 = torch.nn.Parameter(torch.ones(2))
    loss = layer(torch.full((1, 3), float(rank + 1))).sum()  # grad of weight = rank + 1
    if rank == 1:
        loss = loss + (4.0 * only_rank1).sum()
    loss.backward()
    sync_gradients([*layer.parameters(), frozen, unused, only_rank1], sync)
    total = sync.all_reduce_sum(torch.tensor([float(rank)]))
    sync.barrier()
    torch.save(
        {
            "grad": layer.weight.grad,
            "frozen": frozen.grad,
            "unused": unused.grad,
            "only_rank1": only_rank1.grad,
            "sum": total,
            "rank": sync.rank,
            "world": sync.world_size,
        },
        f"{out}/{rank}.pt",
    )
    dist.destroy_process_group()


@pytest.mark.distributed
def test_two_processes_average_gradients(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        out = torch.load(tmp_path / f"{rank}.pt")
        assert out["world"] == 2 and out["rank"] == rank
        torch.testing.assert_close(out["grad"], torch.full((1, 3), 1.5))  # mean of 1 and 2
        # as in one process: no gradient appears on frozen or unused parameters
        assert out["frozen"] is None and out["unused"] is None
        torch.testing.assert_close(out["only_rank1"], torch.full((2,), 2.0))  # mean of 0 and 4
        assert out["sum"].item() == 1.0
