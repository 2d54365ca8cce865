"""rl4py/modules/actor_critic.py builders on action spaces that do not start at 0 (Discrete(n, start=k))."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import InteractionType, set_interaction_type
from torch import distributions as D

from rl4py.collectors import SyncCollector
from rl4py.envs import GymEnv
from rl4py.losses import PPOLoss
from rl4py.modules import make_actor_critic, make_recurrent_actor_critic
from rl4py.testing import shift_seed
from rl4py.trainers import PPOConfig, train_ppo
from rl4py.values import GAE


class OffsetActionEnv(gym.Env):
    """``Discrete(3, start=-1)`` actions; reward 1 for action -1; observation = a noisy one-hot of the last action.

    Rejects any action outside its space (as a real env would), records what it receives, and with
    ``masked`` forbids action 1 through ``info["action_mask"]`` (entry k is action k - 1).
    """

    metadata = {"render_modes": []}

    def __init__(self, masked: bool = False) -> None:
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(3, start=-1)
        self.masked = masked
        self.received: list[int] = []
        self.t = 0

    def _info(self) -> dict:
        return {"action_mask": np.array([1, 1, 0], np.int8)} if self.masked else {}

    def _obs(self, action: int) -> np.ndarray:
        obs = self.np_random.normal(0.0, 0.1, 3).astype(np.float32)
        obs[action + 1] += 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(0), self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"OffsetActionEnv: action {action!r} outside {self.action_space}")
        self.received.append(int(action))
        self.t += 1
        return self._obs(int(action)), float(action == -1), False, self.t == 5, self._info()


def make_env(masked: bool = False, num_envs: int = 4) -> tuple[GymEnv, list[OffsetActionEnv]]:
    made: list[OffsetActionEnv] = []

    def factory() -> OffsetActionEnv:
        made.append(OffsetActionEnv(masked))
        return made[-1]

    return GymEnv(factory, num_envs=num_envs), made


@pytest.mark.parametrize("masked", [False, True])
def test_ppo_collection_and_loss_on_an_offset_discrete_space(masked: bool) -> None:
    env, made = make_env(masked)
    torch.manual_seed(0)
    actor, critic = make_actor_critic(env.single_observation_space, env.single_action_space, masked=masked)
    collector = SyncCollector(env, actor, rollout_length=32, total_frames=128, seed=0)
    rollout = next(iter(collector))

    # the stored actions are the env's own: {-1, 0, 1} (without 1 where the mask forbids it)
    action = rollout["action"]
    allowed = {-1, 0} if masked else {-1, 0, 1}
    assert set(action.unique().tolist()) == allowed
    assert set(sum((e.received for e in made), [])) == allowed

    # the stored log-probs are torch's categorical over logit index action - start
    logits = rollout["logits"]
    if masked:
        logits = logits.masked_fill(~rollout["action_mask"], float("-inf"))
    reference = D.Categorical(logits=logits).log_prob(action + 1).unsqueeze(-1)
    torch.testing.assert_close(rollout["action_log_prob"], reference)
    # and the loss's re-evaluation of the stored actions agrees with them (ratio 1 before any update)
    dist = actor.get_dist(rollout)
    torch.testing.assert_close(dist.log_prob(action).unsqueeze(-1), rollout["action_log_prob"])

    GAE(gamma=0.99, lmbda=0.95, value_network=critic)(rollout)
    terms = PPOLoss(actor, critic)(rollout)
    assert all(torch.isfinite(value).all() for value in terms.values())
    assert terms["approx_kl"].abs().item() < 1e-6
    assert terms["clip_fraction"].item() == 0.0
    loss = sum(value for key, value in terms.items() if key.startswith("loss_"))
    loss.backward()
    grads = [p.grad for p in actor.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_deterministic_actions_are_offset_too() -> None:
    env, _ = make_env()
    actor, _ = make_actor_critic(env.single_observation_space, env.single_action_space)
    td = env.reset(seed=0)
    with set_interaction_type(InteractionType.DETERMINISTIC):
        actor(td)
    assert torch.equal(td["action"], td["logits"].argmax(-1) - 1)


def test_random_collection_respects_start() -> None:
    env, made = make_env()
    rollout = next(iter(SyncCollector(env, None, rollout_length=50, total_frames=200, seed=0)))
    assert set(rollout["action"].unique().tolist()) == {-1, 0, 1}
    assert set(rollout["action"].unique().tolist()) == set(sum((e.received for e in made), []))


@pytest.mark.slow
def test_train_ppo_on_an_offset_discrete_space_learns_the_offset_action() -> None:
    """Reward 1 is only for action -1 (a uniform policy picks it a third of the time): PPO trains
    until its last 20 episodes average 4.5 of 5, at most 4096 frames. Measured (seeds 0-11, 1
    thread): stops after 640-896 frames, with -1 in 85-95% of each env's last 64 actions."""
    env, made = make_env(num_envs=4)
    config = PPOConfig(
        rollout_length=32, total_frames=4096, lr=1e-2, entropy_coeff=0.0, target_return=4.5, seed=shift_seed(0)
    )
    result = train_ppo(env, config)
    assert result.solved, f"seed {config.seed}: mean return {result.mean_return:.2f} after {result.frames} frames"
    # what the envs received: the offset actions, and mostly the rewarded one
    last = np.array(sum((e.received[-64:] for e in made), []))
    assert set(np.unique(np.array(sum((e.received for e in made), [])))) <= {-1, 0, 1}
    assert (last == -1).mean() > 0.6


def test_multi_discrete_start_is_per_head() -> None:
    space = gym.spaces.MultiDiscrete([3, 2], start=[-1, 5])
    actor, _ = make_actor_critic(gym.spaces.Box(-1.0, 1.0, (2,), np.float32), space)
    td = actor(TensorDict({"observation": torch.randn(256, 2)}, batch_size=[256]))
    assert set(td["action"][:, 0].unique().tolist()) == {-1, 0, 1}
    assert set(td["action"][:, 1].unique().tolist()) == {5, 6}
    logits = td["logits"]
    reference = D.Categorical(logits=logits[:, :3]).log_prob(td["action"][:, 0] + 1) + D.Categorical(
        logits=logits[:, 3:]
    ).log_prob(td["action"][:, 1] - 5)
    torch.testing.assert_close(td["action_log_prob"].squeeze(-1), reference)


def test_recurrent_actor_critic_offsets_discrete_actions() -> None:
    env, made = make_env()
    torch.manual_seed(0)
    policy = make_recurrent_actor_critic(env.single_observation_space, env.single_action_space, hidden_size=16)
    rollout = next(iter(SyncCollector(env, policy, rollout_length=32, total_frames=128, seed=0)))
    action = rollout["action"]
    assert set(action.unique().tolist()) == {-1, 0, 1}
    reference = D.Categorical(logits=rollout["logits"]).log_prob(action + 1).unsqueeze(-1)
    torch.testing.assert_close(rollout["action_log_prob"], reference)
