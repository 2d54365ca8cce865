"""The same PPOLoss trains masked, multi-discrete, continuous and auto-regressive policies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rl4py import GAE, GridWorld, MultiDiscreteTarget, Pendulum, PPOLoss, SyncCollector, make_actor_critic
from rl4py.envs import CORRIDOR_LAYOUT
from rl4py.modules import MLP, AutoRegressiveActor
from rl4py.trainers import PPOConfig, minibatch_update, train_ppo
from rl4py.trainers.evaluation import evaluate_policy

pytestmark = pytest.mark.slow


def _train(env, actor, critic, iterations: int, seed: int, lr: float = 3e-3, rollout_length: int = 32):
    gae = GAE(0.99, 0.95, value_network=critic)
    loss = PPOLoss(actor, critic)
    optimizer = torch.optim.Adam(loss.parameters(), lr=lr)
    collector = SyncCollector(env, actor, rollout_length, seed=seed)
    shuffle = torch.Generator().manual_seed(seed)
    for _ in range(iterations):
        rollout = collector.rollout()
        gae(rollout)
        minibatch_update(loss, optimizer, rollout, epochs=4, num_minibatches=4, generator=shuffle)


def _corridor_return(masked: bool, seed: int) -> float:
    torch.manual_seed(seed)
    env = GridWorld(16, layout=CORRIDOR_LAYOUT, max_episode_steps=40, validate=masked)
    actor, critic = make_actor_critic(
        env.single_observation_space, env.single_action_space, num_cells=(64,), masked=masked
    )
    _train(env, actor, critic, iterations=17, seed=seed)
    evaluation = GridWorld(64, layout=CORRIDOR_LAYOUT, max_episode_steps=40, validate=False)
    return evaluate_policy(evaluation, actor, max_steps=40, seed=123).mean().item()


def test_masked_ppo_learns_the_corridor_an_unmasked_policy_does_not():
    optimal = GridWorld(1, layout=CORRIDOR_LAYOUT, max_episode_steps=40).optimal_return()
    for seed in (0, 1):
        masked = _corridor_return(masked=True, seed=seed)
        unmasked = _corridor_return(masked=False, seed=seed)
        assert masked == pytest.approx(optimal, abs=5e-3), f"seed {seed}: masked policy {masked:.3f} < {optimal}"
        assert unmasked < optimal - 0.05, f"seed {seed}: without the mask {unmasked:.3f} (same budget)"


def test_unmasked_policy_on_a_validating_env_raises():
    env = GridWorld(64, layout=CORRIDOR_LAYOUT, max_episode_steps=40, validate=True)
    actor, critic = make_actor_critic(env.single_observation_space, env.single_action_space, masked=False)
    with pytest.raises(ValueError, match="action_mask|mask"):
        SyncCollector(env, actor, 40, seed=0).rollout()


def test_multi_discrete_masked_ppo_learns():
    torch.manual_seed(0)
    env = MultiDiscreteTarget(16)
    actor, critic = make_actor_critic(env.single_observation_space, env.single_action_space, masked=True)
    _train(env, actor, critic, iterations=16, seed=0)
    score = evaluate_policy(MultiDiscreteTarget(64), actor, max_steps=64, seed=7).mean().item()
    assert score >= 7.0, (
        f"mean return {score:.2f} of 8 (a random masked policy gets {env.random_return(masked=True):.2f})"
    )


def test_autoregressive_ppo_learns_multi_discrete_task():
    torch.manual_seed(0)
    env = MultiDiscreteTarget(16)
    obs = env.single_observation_space.shape[0]
    actor = AutoRegressiveActor(
        MLP(obs, 64, num_cells=(64,)), 64, nvec=list(env.single_action_space.nvec), mask_key="action_mask"
    )
    critic_net = MLP(obs, 1, num_cells=(64, 64))
    from tensordict.nn import TensorDictModule

    critic = TensorDictModule(critic_net, in_keys=["observation"], out_keys=["state_value"])
    before = evaluate_policy(MultiDiscreteTarget(64), actor, max_steps=64, seed=7, deterministic=False).mean().item()
    _train(env, actor, critic, iterations=16, seed=0)
    after = evaluate_policy(MultiDiscreteTarget(64), actor, max_steps=64, seed=7).mean().item()
    assert after >= 7.0 and after > before + 2.0, f"before {before:.2f}, after {after:.2f}"


def test_continuous_ppo_improves_pendulum():
    config = PPOConfig(
        seed=0,
        num_envs=64,
        rollout_length=32,
        lr=3e-3,
        anneal_lr=False,
        num_minibatches=2,
        epochs=10,
        gamma=0.9,
        entropy_coeff=0.0,
        clip_value=False,
        max_grad_norm=None,
        total_frames=64 * 32 * 30,
    )
    env = Pendulum(num_envs=64)
    torch.manual_seed(0)
    untrained, _ = make_actor_critic(env.single_observation_space, env.single_action_space)
    baseline = evaluate_policy(Pendulum(32), untrained, max_steps=200, seed=3).mean().item()
    result = train_ppo(env, config)
    trained = evaluate_policy(Pendulum(32), result.actor, max_steps=200, seed=3).mean().item()
    assert trained > baseline + 300.0, f"untrained {baseline:.0f}, trained {trained:.0f}"
    assert isinstance(result.actor.module, nn.Module)
