"""IMPALA-style actor-critic: V-trace targets correct for a lagging behaviour policy."""

from __future__ import annotations

import pytest
import torch

from rl4py import CartPole
from rl4py.testing import shift_seed
from rl4py.trainers import ImpalaConfig, train_impala


@pytest.mark.slow
def test_vtrace_actor_critic_learns_cartpole_from_stale_rollouts():
    for seed in (shift_seed(0), shift_seed(1)):  # one of two seeds within the budget
        config = ImpalaConfig(seed=seed, policy_lag=2, target_return=475.0, total_frames=400_000)
        result = train_impala(CartPole(num_envs=config.num_envs), config)
        if result.solved:
            break
    assert result.solved, f"mean return {result.mean_return:.1f} after {result.frames} frames"


def test_behaviour_policy_lags_the_learner():
    config = ImpalaConfig(seed=0, policy_lag=2, total_frames=5 * 32 * 32)
    result = train_impala(CartPole(num_envs=32), config)
    actor, behaviour = result.modules["actor"], result.modules["behaviour"]
    assert result.iterations == 5 and result.updates == 5 * 4  # epochs 1 x 4 minibatches
    differs = [not torch.equal(a, b) for a, b in zip(actor.parameters(), behaviour.parameters())]
    assert any(differs), "the behaviour policy should be two updates behind the learner"
    # with no lag the behaviour policy is the learner
    same = train_impala(CartPole(num_envs=32), ImpalaConfig(seed=0, policy_lag=0, total_frames=3 * 32 * 32))
    for a, b in zip(same.modules["actor"].parameters(), same.modules["behaviour"].parameters()):
        assert torch.equal(a, b)


def test_upgo_term_runs_and_bad_lag_raises():
    result = train_impala(CartPole(num_envs=8), ImpalaConfig(seed=0, upgo=True, total_frames=4 * 8 * 32, num_envs=8))
    assert result.iterations == 4
    with pytest.raises(ValueError, match="policy_lag"):
        train_impala(CartPole(num_envs=8), ImpalaConfig(policy_lag=-1, num_envs=8))
