"""PPO learns CartPole: the native env for 3 seeds, and gymnasium's CartPole-v1 through GymEnv."""

from __future__ import annotations

import pytest
import torch

from rl4py import CartPole, GymEnv
from rl4py.trainers import PPOConfig, train_ppo

pytestmark = pytest.mark.slow

# the benchmark configuration (bench/ppo_cartpole.py) at half its learning rate (steadier), with a frame budget
FAST = dict(
    num_envs=32,
    rollout_length=32,
    lr=1e-2,
    anneal_lr=False,
    num_minibatches=1,
    epochs=6,
    entropy_coeff=0.0,
    clip_value=False,
    target_return=475.0,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ppo_solves_native_cartpole(seed):
    config = PPOConfig(seed=seed, total_frames=250_000, **FAST)
    result = train_ppo(CartPole(num_envs=config.num_envs), config)
    assert result.solved, f"seed {seed}: mean return {result.mean_return:.1f} after {result.frames} frames"
    assert result.mean_return >= 475.0


def test_ppo_solves_gymnasium_cartpole_through_adapter():
    config = PPOConfig(seed=0, total_frames=400_000, **{**FAST, "num_envs": 16, "rollout_length": 64})
    result = train_ppo(GymEnv("CartPole-v1", num_envs=config.num_envs), config)
    assert result.solved, f"mean return {result.mean_return:.1f} after {result.frames} frames"


def test_untrained_policy_does_not_meet_the_bar():
    """The threshold is meaningful: a budget of one rollout leaves CartPole unsolved."""
    config = PPOConfig(seed=0, total_frames=1024, **FAST)
    torch.manual_seed(0)
    result = train_ppo(CartPole(num_envs=config.num_envs), config)
    assert not result.solved and result.mean_return < 100.0
