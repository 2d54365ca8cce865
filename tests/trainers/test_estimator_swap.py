"""The value estimator is a swappable stage: PPO trains with V-trace in place of GAE."""

from __future__ import annotations

import pytest

from rl4py import CartPole
from rl4py.testing import shift_seed
from rl4py.trainers import PPOConfig, build_ppo, train_ppo
from rl4py.values import GAE, TDLambda, VTrace

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
    total_frames=250_000,
)


@pytest.mark.slow
def test_ppo_with_vtrace_instead_of_gae_solves_cartpole():
    for seed in (shift_seed(0), shift_seed(1)):  # one of two seeds within the budget
        result = train_ppo(CartPole(num_envs=32), PPOConfig(seed=seed, estimator="vtrace", **FAST))
        if result.solved:
            break
    assert result.solved, f"mean return {result.mean_return:.1f} after {result.frames} frames"


def test_estimator_names_build_the_right_stage():
    env = CartPole(num_envs=1)
    spaces = (env.single_observation_space, env.single_action_space)

    def stage(**changes):
        parts = build_ppo(*spaces, PPOConfig(**changes))
        estimator = parts.value_estimator
        assert estimator.value_network is parts.critic
        return estimator, parts

    assert type(stage(estimator="gae")[0]) is GAE
    vtrace, parts = stage(estimator="vtrace", gamma=0.9)
    assert isinstance(vtrace, VTrace) and vtrace.gamma == 0.9 and vtrace.actor is parts.actor
    td_lambda, _ = stage(estimator="td_lambda", lmbda=0.7)
    assert isinstance(td_lambda, TDLambda) and td_lambda.lmbda == 0.7
    with pytest.raises(KeyError, match="unknown value estimator 'nope'"):
        stage(estimator="nope")
