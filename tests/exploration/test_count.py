"""CountReward against hand counts; SimHash; CountBonus and CountReward share one table class."""

from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict

from rl4py.envs import CountBonus, MountainCar, VisitCounts
from rl4py.exploration import CountReward, IntrinsicReward


def _td(next_obs: torch.Tensor) -> TensorDict:
    return TensorDict({"next": {"observation": next_obs}}, batch_size=next_obs.shape[:-1])


def test_grid_counts_match_a_dictionary_of_cells() -> None:
    reward = CountReward(2, resolution=[0.5, 0.25])
    assert isinstance(reward, IntrinsicReward)
    gen = torch.Generator().manual_seed(0)
    counts: dict[tuple[int, int], int] = {}
    for _ in range(30):
        obs = torch.rand(8, 2, generator=gen) * 2
        td = _td(obs)
        reward.update(td)
        cells = [tuple(c) for c in torch.floor(obs.double() / torch.tensor([0.5, 0.25])).long().tolist()]
        for cell in cells:
            counts[cell] = counts.get(cell, 0) + 1
        want = torch.tensor([[1 / math.sqrt(counts[c])] for c in cells])
        torch.testing.assert_close(reward(td), want)
    assert max(counts.values()) > 5 and len(counts) == 32  # 4 x 8 cells, all revisited


def test_rollout_shaped_batches_and_the_floor_at_one_visit() -> None:
    reward = CountReward(3, resolution=1.0)
    td = _td(torch.zeros(4, 5, 3))  # [B, T] transitions, all in one cell
    assert torch.equal(reward(td), torch.ones(4, 5, 1))  # never counted: N floored at 1
    reward.update(td)
    torch.testing.assert_close(reward(td), torch.full((4, 5, 1), 1 / math.sqrt(20)))


def test_simhash_codes_are_seeded_and_sign_patterns() -> None:
    a, b = CountReward(6, hash_bits=16, seed=1), CountReward(6, hash_bits=16, seed=2)
    obs = torch.randn(10, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.cells(obs), (obs @ a.projection.T > 0).long())
    assert not torch.equal(a.cells(obs), b.cells(obs))
    assert torch.equal(a.cells(obs), CountReward(6, hash_bits=16, seed=1).cells(obs))
    # a scaled state keeps its code (SimHash is angular); the opposite state flips every bit
    assert torch.equal(a.cells(obs * 3.0), a.cells(obs))
    assert torch.equal(a.cells(-obs), 1 - a.cells(obs))
    a.update(_td(obs))
    a.update(_td(obs * 2.0))
    torch.testing.assert_close(a(_td(obs)), torch.full((10, 1), 1 / math.sqrt(2)))


def test_state_dict_resumes_counts_exactly() -> None:
    reward = CountReward(2, hash_bits=8, seed=3)
    obs = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    reward.update(_td(obs))
    twin = CountReward(2, hash_bits=8, seed=3)
    twin.load_state_dict(reward.state_dict())
    assert torch.equal(twin(_td(obs)), reward(_td(obs)))
    assert torch.equal(twin.table.counts, reward.table.counts)


def test_count_bonus_counts_in_the_same_table_class() -> None:
    env = CountBonus(MountainCar(num_envs=2), resolution=0.1)
    assert isinstance(env.table, VisitCounts) and env.counts is env.table.counts
    assert isinstance(CountReward(2, resolution=0.1).table, VisitCounts)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one of resolution"):
        CountReward(2)
    with pytest.raises(ValueError, match="exactly one of resolution"):
        CountReward(2, resolution=1.0, hash_bits=4)
    with pytest.raises(ValueError, match="resolution must be > 0"):
        CountReward(2, resolution=[1.0, -1.0])
    with pytest.raises(ValueError, match="hash_bits must be >= 1"):
        CountReward(2, hash_bits=0)
    with pytest.raises(ValueError, match=r"observations must be \[\*B, 2\]"):
        CountReward(2, resolution=1.0)(_td(torch.zeros(4, 3)))
    with pytest.raises(ValueError, match="cells must be an integer tensor"):
        VisitCounts(2).add(torch.zeros(3, 2))
