"""SelfPlayPool: frozen snapshots isolated from training, eviction, uniform draws, checkpoints; branch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rl4py.multiagent import SelfPlayPool, branch, freeze


def policy() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2))


def train(module: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 5) -> None:
    module.train()
    for _ in range(steps):
        loss = module(torch.randn(16, 4)).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_snapshot_is_untouched_by_later_training_of_the_original():
    net = policy()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    train(net, optimizer, 2)  # the original has gradients and Adam state when the snapshot is taken
    pool = SelfPlayPool()
    snapshot = pool.add(net, step=2)
    saved = {k: v.clone() for k, v in snapshot.module.state_dict().items()}
    train(net, optimizer, 5)
    # the original moved (weights and BatchNorm running statistics) ...
    assert not torch.equal(net[0].weight, saved["0.weight"])
    assert not torch.equal(net[1].running_mean, saved["1.running_mean"])
    # ... the snapshot is bitwise what it was
    for key, value in snapshot.module.state_dict().items():
        assert torch.equal(value, saved[key]), key
    # frozen: no gradients, eval mode (BatchNorm uses its running statistics), no shared storage
    assert all(not p.requires_grad and p.grad is None for p in snapshot.module.parameters())
    assert not snapshot.module.training and not snapshot.module[1].training
    original = {p.data_ptr() for p in net.parameters()}
    assert not original & {p.data_ptr() for p in snapshot.module.parameters()}
    # a forward pass of the snapshot leaves its running statistics alone
    snapshot.module(torch.randn(16, 4))
    assert torch.equal(snapshot.module[1].running_mean, saved["1.running_mean"])


def test_capacity_keeps_the_most_recent_and_ids_and_names_survive_eviction():
    net = nn.Linear(2, 1)
    pool = SelfPlayPool(capacity=3)
    for step in range(5):
        with torch.no_grad():
            net.weight.fill_(step)
        pool.add(net, step=step * 10)
    assert len(pool) == 3
    assert pool.names == ["snapshot_2", "snapshot_3", "snapshot_4"]
    assert [s.id for s in pool] == [2, 3, 4] and [s.step for s in pool] == [20, 30, 40]
    assert [float(s.module.weight[0, 0]) for s in pool] == [2.0, 3.0, 4.0]
    assert pool[0].name == "snapshot_2" and pool[-1] is pool.latest and pool["snapshot_3"].step == 30
    assert "snapshot_1" not in pool and "snapshot_4" in pool
    named = pool.add(net, step=50, name="best")
    assert named.id == 5 and pool.names == ["snapshot_3", "snapshot_4", "best"]
    keep_all = SelfPlayPool()
    for step in range(7):
        keep_all.add(net, step=step)
    assert len(keep_all) == 7 and keep_all[0].step == 0


def test_sample_is_uniform_and_reproducible_from_the_generator():
    pool = SelfPlayPool()
    for step in range(4):
        pool.add(nn.Linear(1, 1), step=step)
    draws = [pool.sample(torch.Generator().manual_seed(7)).name for _ in range(3)]
    assert len(set(draws)) == 1  # the same seed, the same draw
    generator = torch.Generator().manual_seed(0)
    counts = {name: 0 for name in pool.names}
    for _ in range(4000):
        counts[pool.sample(generator).name] += 1
    # 1000 expected each; binomial sd ~27, margin > 4 sd
    assert all(abs(c - 1000) < 120 for c in counts.values()), counts


def test_state_dict_round_trip_rebuilds_every_snapshot():
    net = policy()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    pool = SelfPlayPool(capacity=2)
    for step in range(3):
        train(net, optimizer, 1)
        pool.add(net, step=step, parent="main_0")
    state = pool.state_dict()
    restored = SelfPlayPool(capacity=2)
    restored.load_state_dict(state, policy)
    assert restored.names == pool.names and [s.step for s in restored] == [1, 2]
    assert [s.parent for s in restored] == ["main_0", "main_0"]
    for a, b in zip(pool, restored):
        for (ka, va), (kb, vb) in zip(a.module.state_dict().items(), b.module.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)
        assert not b.module.training and all(not p.requires_grad for p in b.module.parameters())
    # the id counter continues: the next snapshot gets a new id in both
    assert restored.add(net).name == pool.add(net).name == "snapshot_3"
    # and the same generator state draws the same snapshots
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert [pool.sample(g1).name for _ in range(10)] == [restored.sample(g2).name for _ in range(10)]
    # through torch.save / torch.load(weights_only=True)
    import io

    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)
    buffer.seek(0)
    again = SelfPlayPool(capacity=2)
    again.load_state_dict(torch.load(buffer, weights_only=True), policy)
    assert again.names == pool.names


def test_branch_copies_weights_with_a_fresh_optimizer_then_trains_independently():
    main = policy()
    main_optimizer = torch.optim.Adam(main.parameters(), lr=0.05)
    train(main, main_optimizer, 3)
    exploiter, optimizer = branch(main, lambda m: torch.optim.Adam(m.parameters(), lr=0.05))
    assert len(optimizer.state) == 0 and len(main_optimizer.state) > 0
    assert all(p.grad is None for p in exploiter.parameters())
    for (k, a), (_, b) in zip(main.state_dict().items(), exploiter.state_dict().items()):
        assert torch.equal(a, b), k
    before = {k: v.clone() for k, v in main.state_dict().items()}
    train(exploiter, optimizer, 3)
    assert not torch.equal(exploiter[0].weight, before["0.weight"])
    for key, value in main.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.requires_grad for p in exploiter.parameters())


def test_errors_name_what_was_wrong():
    with pytest.raises(ValueError, match="capacity must be an int >= 1"):
        SelfPlayPool(capacity=0)
    pool = SelfPlayPool()
    with pytest.raises(ValueError, match="the pool is empty"):
        pool.sample(torch.Generator())
    with pytest.raises(ValueError, match="the pool is empty"):
        _ = pool.latest
    with pytest.raises(TypeError, match="expected an nn.Module"):
        pool.add(torch.zeros(2))
    with pytest.raises(TypeError, match="step must be an int"):
        pool.add(nn.Linear(1, 1), step=1.5)
    pool.add(nn.Linear(1, 1), name="a")
    with pytest.raises(ValueError, match="'a' is already in the pool"):
        pool.add(nn.Linear(1, 1), name="a")
    with pytest.raises(KeyError, match="no snapshot named 'b'"):
        pool["b"]
    with pytest.raises(IndexError, match="position 3 out of range for 1"):
        pool[3]
    with pytest.raises(ValueError, match="more than this pool's capacity 1"):
        big = SelfPlayPool()
        big.add(nn.Linear(1, 1))
        big.add(nn.Linear(1, 1))
        SelfPlayPool(capacity=1).load_state_dict(big.state_dict(), lambda: nn.Linear(1, 1))
    with pytest.raises(TypeError, match="must return a torch.optim.Optimizer"):
        branch(nn.Linear(1, 1), lambda m: None)
    with pytest.raises(TypeError, match="expected an nn.Module"):
        freeze("policy")
