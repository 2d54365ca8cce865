"""The value estimator is a swappable stage: PPO trains with V-trace in place of GAE."""

from __future__ import annotations

import pytest

from rl4py import CartPole
from rl4py.trainers import PPOConfig, train_ppo
from rl4py.trainers.ppo_loop import make_estimator
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
    result = train_ppo(CartPole(num_envs=32), PPOConfig(seed=0, estimator="vtrace", **FAST))
    assert result.solved, f"mean return {result.mean_return:.1f} after {result.frames} frames"


def test_estimator_names_build_the_right_stage():
    from rl4py.modules import make_discrete_actor_critic

    actor, critic = make_discrete_actor_critic(4, 2)
    assert type(make_estimator(PPOConfig(estimator="gae"), actor, critic)) is GAE
    vtrace = make_estimator(PPOConfig(estimator="vtrace", gamma=0.9), actor, critic)
    assert isinstance(vtrace, VTrace) and vtrace.gamma == 0.9
    assert isinstance(make_estimator(PPOConfig(estimator="td_lambda"), actor, critic), TDLambda)
    with pytest.raises(KeyError, match="unknown value estimator 'nope'"):
        make_estimator(PPOConfig(estimator="nope"), actor, critic)
