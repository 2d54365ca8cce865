"""SyncCollector with recurrent policies: is_init, state carry, resets at episode starts, stored states."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict, TensorDictBase

from rl4py.collectors import SyncCollector
from rl4py.envs import CartPole
from rl4py.modules.recurrent_actor import make_recurrent_actor_critic
from rl4py.testing import CountingEnv

STATE = ("recurrent_state", "memory", "steps")


class StepCounterPolicy:
    """A recurrent policy whose state counts the steps it has seen: next state = state + 1.

    It never resets by itself, so the stored state equals the observation of CountingEnv (the
    steps taken in the episode) only if the collector resets the state at every episode start.
    """

    def __init__(self) -> None:
        self.seen_is_init: list[torch.Tensor] = []

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> TensorDict:
        return TensorDict({STATE: torch.zeros(batch_size, 1)}, batch_size=[batch_size], device=device)

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        self.seen_is_init.append(td["is_init"].clone())
        td.set("action", torch.zeros(td.batch_size, dtype=torch.int64))
        td.set(("next", *STATE), td.get(STATE) + 1)
        return td


def _cat(rollouts: list[TensorDict], key) -> torch.Tensor:
    return torch.cat([r[key] for r in rollouts], dim=1)


def test_is_init_and_state_on_counting_env_hand_checked():
    collector = SyncCollector(CountingEnv(num_envs=2, episode_length=[3, 5]), StepCounterPolicy(), rollout_length=4)
    rollouts = [collector.rollout() for _ in range(3)]  # 12 steps, across rollout boundaries
    rollout = rollouts[0]
    assert rollout["is_init"].shape == (2, 4, 1) and rollout["is_init"].dtype == torch.bool
    assert rollout[STATE].shape == (2, 4, 1)
    assert rollout[("next", *STATE)].shape == (2, 4, 1)
    is_init = _cat(rollouts, "is_init")[..., 0].int().tolist()
    assert is_init == [
        [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0],  # episodes of 3 steps
        [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],  # episodes of 5 steps
    ]
    obs = _cat(rollouts, "observation")[..., 0]
    state = _cat(rollouts, STATE)[..., 0]
    assert state.tolist() == [
        [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2],
        [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1],
    ]
    assert torch.equal(state, obs)  # the state restarts with every episode
    # the state the policy wrote, stored under "next" (before the collector's reset)
    assert torch.equal(_cat(rollouts, ("next", *STATE)), _cat(rollouts, STATE) + 1)
    assert torch.equal(_cat(rollouts, "is_init")[:, 1:], _cat(rollouts, ("next", "done"))[:, :-1])


def test_policy_sees_is_init_and_the_very_first_step_is_an_episode_start():
    policy = StepCounterPolicy()
    collector = SyncCollector(CountingEnv(num_envs=3, episode_length=[2, 3, 4]), policy, rollout_length=5)
    collector.rollout()
    assert policy.seen_is_init[0].all()
    assert policy.seen_is_init[0].shape == (3, 1)
    assert [bool(x[0, 0]) for x in policy.seen_is_init] == [True, False, True, False, True]


def test_reset_restarts_the_recurrent_state():
    collector = SyncCollector(CountingEnv(num_envs=1, episode_length=10), StepCounterPolicy(), rollout_length=3)
    collector.rollout()
    second = collector.rollout()
    assert second[STATE][0, :, 0].tolist() == [3, 4, 5]
    assert not second["is_init"].any()
    collector.reset()
    third = collector.rollout()
    assert third[STATE][0, :, 0].tolist() == [0, 1, 2]
    assert third["is_init"][0, :, 0].tolist() == [True, False, False]


def test_state_dict_restores_the_recurrent_state():
    source = SyncCollector(CountingEnv(num_envs=2, episode_length=[3, 5]), StepCounterPolicy(), rollout_length=4)
    source.rollout()
    state = source.state_dict()
    # the state for the 5th step: the observations will be 1 (length 3) and 4 (length 5)
    assert torch.equal(state["recurrent_state"][STATE][:, 0], torch.tensor([1.0, 4.0]))
    restored = SyncCollector(CountingEnv(num_envs=2, episode_length=[3, 5]), StepCounterPolicy(), rollout_length=4)
    restored.load_state_dict(state)
    a, b = source.rollout(), restored.rollout()
    assert (a == b).all()


def test_errors_name_the_missing_state_and_the_batch_size():
    class Forgetful(StepCounterPolicy):
        def __call__(self, td):
            td.set("action", torch.zeros(td.batch_size, dtype=torch.int64))
            return td

    with pytest.raises(KeyError, match="did not write"):
        SyncCollector(CountingEnv(num_envs=2), Forgetful(), rollout_length=2).rollout()

    class WrongBatch(StepCounterPolicy):
        def initial_state(self, batch_size, device=None):
            return super().initial_state(batch_size + 1, device)

    with pytest.raises(ValueError, match="initial_state returned batch size"):
        SyncCollector(CountingEnv(num_envs=2), WrongBatch(), rollout_length=2).rollout()


def test_non_recurrent_policy_gets_no_recurrent_entries():
    collector = SyncCollector(CountingEnv(num_envs=2), None, rollout_length=3)
    assert not collector.recurrent
    rollout = collector.rollout()
    assert "is_init" not in rollout
    assert "recurrent_state" not in rollout
    assert "recurrent_state" not in collector.state_dict()


def test_recurrent_actor_critic_rollout_can_be_rerun_from_stored_states():
    """Chunks re-run from their stored first state reproduce the behaviour log-probs and values."""
    torch.manual_seed(0)
    env = CountingEnv(num_envs=2, episode_length=[3, 5])
    policy = make_recurrent_actor_critic(
        gym.spaces.Box(0, np.inf, (1,), np.float32), gym.spaces.Discrete(2), core="lstm", hidden_size=8
    )
    collector = SyncCollector(env, policy, rollout_length=8)
    collector.rollout()
    rollout = collector.rollout()  # starts mid-episode, from a carried state
    assert not rollout["is_init"][:, 0].all()
    assert set(rollout["recurrent_state"].keys()) == {"actor", "critic"}
    # at an episode start the stored state is the initial one (zeros), elsewhere the one written a step before
    start = rollout["is_init"][..., 0]
    for name in ("actor", "critic"):
        for part in ("h", "c"):
            stored = rollout["recurrent_state", name, part]
            written = rollout["next", "recurrent_state", name, part]
            assert stored.shape == written.shape == (2, 8, 1, 8)
            assert (stored[start] == 0).all()
            assert torch.equal(stored[:, 1:][~start[:, 1:]], written[:, :-1][~start[:, 1:]])
            assert written.abs().sum() > 0
    for chunks in (rollout, rollout.reshape(-1, 4), rollout.reshape(-1, 2)):
        with torch.no_grad():
            log_prob = policy.get_dist(chunks).log_prob(chunks["action"]).unsqueeze(-1)
            value = policy.critic(chunks.select(*policy.critic.in_keys))["state_value"]
        torch.testing.assert_close(log_prob, chunks["action_log_prob"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(value, chunks["state_value"], atol=1e-5, rtol=1e-5)


def test_recurrent_collection_on_cartpole_has_rollout_shapes():
    env = CartPole(num_envs=3, partial_observation=True)
    policy = make_recurrent_actor_critic(env.single_observation_space, env.single_action_space, core="gru")
    rollout = SyncCollector(env, policy, rollout_length=5, seed=0).rollout()
    assert rollout.batch_size == (3, 5)
    assert rollout["observation"].shape == (3, 5, 2)
    assert rollout["recurrent_state", "actor", "h"].shape == (3, 5, 1, 64)
    assert rollout["next", "recurrent_state", "critic", "h"].shape == (3, 5, 1, 64)
    for key in rollout.keys(include_nested=True, leaves_only=True):
        assert not rollout[key].is_inference(), key
