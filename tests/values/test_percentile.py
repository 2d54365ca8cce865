"""rl4py.values.PercentileNormalizer: DreamerV3's EMA of the 5th/95th return percentiles, scale max(1, range)."""

from __future__ import annotations

import io
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rl4py.values import PercentileNormalizer
from rl4py.values.percentile import _quantiles


def test_quantiles_match_numpy_percentile() -> None:
    g = torch.Generator().manual_seed(0)
    for n in (1, 2, 3, 7, 100, 1001):
        x = torch.randn(n, generator=g) * 10
        ours = _quantiles(x, (0.0, 0.05, 0.37, 0.95, 1.0))
        ref = np.percentile(x.double().numpy(), [0, 5, 37, 95, 100])  # linear interpolation, as jnp.percentile
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6, atol=1e-5)


def test_hand_computed_updates() -> None:
    # DreamerV3 retnorm: low/high start at 0, low = 0.99 low + 0.01 Q_0.05, no debiasing
    norm = PercentileNormalizer()
    assert norm.low.item() == 0.0 and norm.high.item() == 0.0 and norm.scale.item() == 1.0
    norm.update(torch.arange(101.0))  # Q_0.05 = 5, Q_0.95 = 95
    assert norm.low.item() == pytest.approx(0.05) and norm.high.item() == pytest.approx(0.95)
    assert norm.scale.item() == 1.0  # range 0.9 < 1: the floor
    norm.update(2.0 * torch.arange(101.0).reshape(101, 1))  # any shape; Q_0.05 = 10, Q_0.95 = 190
    low, high = 0.99 * 0.05 + 0.01 * 10, 0.99 * 0.95 + 0.01 * 190
    assert norm.low.item() == pytest.approx(low) and norm.high.item() == pytest.approx(high)
    assert norm.offset.item() == pytest.approx(low)
    assert norm.scale.item() == pytest.approx(high - low)  # 2.691 > 1
    adv = torch.tensor([[2.691, -5.382]])
    torch.testing.assert_close(norm.normalize(adv), adv / (high - low))
    # interpolated quantiles: [0, 10]: Q_0.05 = 0.5, Q_0.95 = 9.5
    norm = PercentileNormalizer(decay=0.5)
    norm.update(torch.tensor([10.0, 0.0]))
    assert (norm.low.item(), norm.high.item()) == (0.25, 4.75)
    assert norm.scale.item() == pytest.approx(4.5)


def test_debias_matches_dreamerv3_correction() -> None:
    # corr = 1 - 0.99^n, the stats are divided by max(0.01, corr): after one update, exactly the batch quantiles
    norm = PercentileNormalizer(debias=True)
    norm.update(torch.arange(101.0))
    assert norm.offset.item() == pytest.approx(5.0) and norm.scale.item() == pytest.approx(90.0)
    norm.update(2.0 * torch.arange(101.0))
    corr = 1 - 0.99**2
    low, high = (0.99 * 0.05 + 0.1) / corr, (0.99 * 0.95 + 1.9) / corr
    assert norm.offset.item() == pytest.approx(low, rel=1e-5)
    assert norm.scale.item() == pytest.approx(high - low, rel=1e-5)


def test_converges_to_the_returns_range() -> None:
    norm = PercentileNormalizer()
    returns = torch.linspace(-50.0, 150.0, 1001)  # Q_0.05 = -40, Q_0.95 = 140
    for _ in range(1000):
        norm.update(returns)
    left = 0.99**1000  # the share of the initial 0 left in the EMA
    assert norm.low.item() == pytest.approx(-40.0 * (1 - left), rel=1e-4)
    assert norm.scale.item() == pytest.approx(180.0 * (1 - left), rel=1e-4)


def test_floor_of_one_with_sparse_rewards() -> None:
    # all-zero returns (no reward seen yet), then returns spanning 0.5: never amplified
    for debias in (False, True):
        norm = PercentileNormalizer(debias=debias)
        adv = torch.tensor([0.3, -0.2, 1e-3])
        for _ in range(50):
            out = norm.update_and_normalize(torch.zeros(64), adv)
        assert norm.scale.item() == 1.0 and torch.equal(out, adv)
        for _ in range(500):
            out = norm.update_and_normalize(torch.linspace(0.0, 0.5, 64), adv)
        assert norm.scale.item() == 1.0 and torch.equal(out, adv)
    # another floor
    norm = PercentileNormalizer(limit=0.1, debias=True)
    norm.update(torch.linspace(0.0, 0.5, 101))
    assert norm.scale.item() == pytest.approx(0.45)


def test_update_and_normalize_defaults_to_the_returns_and_keeps_gradients_out() -> None:
    norm = PercentileNormalizer(debias=True)
    returns = torch.arange(101.0, requires_grad=True)
    out = norm(returns)
    torch.testing.assert_close(out, returns.detach() / 90.0)
    assert not norm.low.requires_grad and not norm.high.requires_grad
    out.sum().backward()  # the scale is a constant: d out / d returns = 1 / 90
    torch.testing.assert_close(returns.grad, torch.full((101,), 1 / 90.0))


def test_resume_is_exact() -> None:
    g = torch.Generator().manual_seed(3)
    batches = [torch.randn(16, 15, generator=g) * (i + 1) for i in range(20)]
    norm = PercentileNormalizer(debias=True)
    for b in batches[:10]:
        norm.update(b)
    blob = io.BytesIO()
    torch.save(norm.state_dict(), blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)
    assert set(state) == {"low", "high", "count"}
    resumed = PercentileNormalizer(debias=True)
    resumed.load_state_dict(state)
    for b in batches[10:]:
        norm.update(b)
        resumed.update(b)
        assert torch.equal(norm.scale, resumed.scale) and torch.equal(norm.offset, resumed.offset)


def test_builders_follow_the_seed_book_api() -> None:
    base = PercentileNormalizer()
    base.update(torch.arange(101.0))
    custom = base.with_percentiles(0.1, 0.9).with_decay(0.999)
    assert (custom.low_quantile, custom.high_quantile, custom.decay) == (0.1, 0.9, 0.999)
    assert (base.low_quantile, base.high_quantile, base.decay) == (0.05, 0.95, 0.99)  # a copy
    assert torch.equal(custom.low, base.low)  # state carried over
    custom.update(torch.arange(101.0))  # Q_0.1 = 10
    assert custom.low.item() == pytest.approx(0.999 * 0.05 + 0.001 * 10)
    assert base.low.item() == pytest.approx(0.05)


def test_errors() -> None:
    for low, high in ((0.95, 0.05), (0.5, 0.5), (-0.1, 0.9), (0.1, 1.5), (float("nan"), 0.9), (5.0, 95.0)):
        with pytest.raises(ValueError, match="0 <= low_quantile < high_quantile <= 1"):
            PercentileNormalizer(low, high)
    for decay in (1.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"decay must lie in \[0, 1\)"):
            PercentileNormalizer(decay=decay)
    for limit in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="limit must be finite and > 0"):
            PercentileNormalizer(limit=limit)
    norm = PercentileNormalizer()
    with pytest.raises(ValueError, match="0 <= low_quantile"):
        norm.with_percentiles(0.9, 0.1)
    with pytest.raises(ValueError, match="decay must lie"):
        norm.with_decay(1.0)
    with pytest.raises(ValueError, match="non-empty tensor"):
        norm.update(torch.zeros(0))
    with pytest.raises(ValueError, match="NaN or inf"):
        norm.update(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="NaN or inf"):
        norm.update(torch.tensor([1.0, float("inf")]))
    assert norm.low.item() == 0.0 and norm.count.item() == 0.0  # nothing changed by a rejected batch


def _worker(rank: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    returns = torch.arange(101.0)
    mine = returns[:40] if rank == 0 else returns[40:]  # unequal counts per rank
    synced, local = PercentileNormalizer(sync_dist=True, debias=True), PercentileNormalizer(debias=True)
    synced.update(mine)
    local.update(mine)
    torch.save({"synced": synced.state_dict(), "local": local.state_dict()}, f"{out}/{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.distributed
def test_sync_dist_takes_quantiles_over_all_ranks(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    single = PercentileNormalizer(debias=True)
    single.update(torch.arange(101.0))  # one process seeing every return
    outs = [torch.load(tmp_path / f"{rank}.pt") for rank in (0, 1)]
    for out in outs:
        for key in ("low", "high", "count"):
            assert torch.equal(out["synced"][key], single.state_dict()[key]), key
    assert not torch.equal(outs[0]["local"]["high"], outs[1]["local"]["high"])  # unsynced ranks differ
