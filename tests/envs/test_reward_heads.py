"""Envs with K reward heads: validation, per-head episode returns, the one-head baseline, CoinCorridor."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl4py import keys
from rl4py.collectors import SyncCollector, finished_episodes, finished_head_returns
from rl4py.envs import (
    CoinCorridor,
    CountBonus,
    EnvBase,
    EnvStep,
    EpisodeStats,
    NativeVectorEnv,
    NormalizeReward,
    PotentialShaping,
    SumRewardHeads,
)
from rl4py.trainers import EpisodeTracker, ProgressReporter


class _Heads(EnvBase):
    """Returns a reward of ``width`` columns and declares ``declared`` heads; episodes of 2 steps."""

    def __init__(self, declared: int, width: int, num_envs: int = 3) -> None:
        self.reward_heads = declared
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
            single_action_space=gym.spaces.Discrete(2),
        )
        self.width = width
        self.t = 0

    def _reset(self, seed):
        self.t = 0
        return {keys.OBSERVATION: torch.zeros(self.num_envs, 2)}

    def _step(self, action):
        self.t += 1
        done = torch.full((self.num_envs, 1), self.t % 2 == 0)
        reward = torch.arange(1, self.width + 1, dtype=torch.float32).expand(self.num_envs, -1) * self.t
        obs = {keys.OBSERVATION: torch.zeros(self.num_envs, 2)}
        flags = {keys.TERMINATED: done, keys.TRUNCATED: torch.zeros_like(done), keys.DONE: done.clone()}
        return EnvStep(next={**obs, keys.REWARD: reward.clone(), **flags}, root=obs)


def test_a_declared_multi_head_env_must_return_one_reward_per_head() -> None:
    good = _Heads(declared=2, width=2)
    good.reset_tensors(0)
    assert good.step_tensors(torch.zeros(3, dtype=torch.int64)).next[keys.REWARD].shape == (3, 2)
    env = _Heads(declared=3, width=2)
    env.reset_tensors(0)
    with pytest.raises(ValueError, match=r"'reward'\) has shape \(3, 2\), expected \(3, 3\).*reward_heads=3"):
        env.step_tensors(torch.zeros(3, dtype=torch.int64))


def test_a_one_head_env_returning_a_reward_vector_is_told_to_declare_its_heads() -> None:
    env = _Heads(declared=1, width=2)
    env.reset_tensors(0)
    with pytest.raises(ValueError, match=r"expected \(3, 1\).*sets reward_heads = K"):
        env.step_tensors(torch.zeros(3, dtype=torch.int64))


def test_reward_heads_must_be_a_positive_int() -> None:
    env = _Heads(declared=0, width=1)
    env.reset_tensors(0)
    with pytest.raises(ValueError, match="reward_heads must be a positive int, got 0"):
        env.step_tensors(torch.zeros(3, dtype=torch.int64))


def test_episode_stats_sums_the_heads_and_keeps_each_heads_return() -> None:
    env = EpisodeStats(_Heads(declared=2, width=2))
    assert env.reward_heads == 2
    env.reset_tensors(0)
    first = env.step_tensors(torch.zeros(3, dtype=torch.int64)).next
    second = env.step_tensors(torch.zeros(3, dtype=torch.int64)).next
    # rewards (1, 2) then (2, 4): head returns (1, 2) then (3, 6), their sums 3 then 9
    assert first[keys.EPISODE_HEAD_RETURNS].tolist() == [[1.0, 2.0]] * 3
    assert second[keys.EPISODE_HEAD_RETURNS].tolist() == [[3.0, 6.0]] * 3
    assert second[keys.EPISODE_RETURN].tolist() == [[9.0]] * 3
    third = env.step_tensors(torch.zeros(3, dtype=torch.int64)).next  # a new episode: (3, 6) alone
    assert third[keys.EPISODE_HEAD_RETURNS].tolist() == [[3.0, 6.0]] * 3
    one_head = EpisodeStats(_Heads(declared=1, width=1))
    one_head.reset_tensors(0)
    assert keys.EPISODE_HEAD_RETURNS not in one_head.step_tensors(torch.zeros(3, dtype=torch.int64)).next


def test_episode_stats_refuses_a_checkpoint_with_another_number_of_heads() -> None:
    two, one = EpisodeStats(_Heads(declared=2, width=2)), EpisodeStats(_Heads(declared=1, width=1))
    with pytest.raises(ValueError, match=r"episode_return has shape \(3, 1\), expected \(3, 2\)"):
        two.load_state_dict(one.state_dict())


def test_collector_rollouts_and_the_tracker_report_summed_and_per_head_returns() -> None:
    collector = SyncCollector(_Heads(declared=2, width=2), None, rollout_length=4, total_frames=24, seed=0)
    tracker = EpisodeTracker(window=100)
    for rollout in collector:
        tracker.update(rollout)
        returns, _ = finished_episodes(rollout)
        heads = finished_head_returns(rollout)
        assert heads.shape == (returns.shape[0], 2)
        torch.testing.assert_close(heads.sum(-1), returns)
    # step t pays (t, 2t) and every second step ends the episodes: they end at t = 2, 4, 6, 8 (3 sub-envs
    # each) with head returns (2t - 1, 2(2t - 1))
    assert tracker.episodes == 12
    expected = sum(2 * t - 1 for t in (2, 4, 6, 8)) / 4
    assert tracker.mean_head_returns == pytest.approx((expected, 2 * expected))
    assert tracker.mean_return == pytest.approx(3 * expected)
    records = []
    reporter = ProgressReporter(records.append, 1, 0.0)
    reporter.maybe_report(1, 24, tracker)
    assert records[0]["mean_return_head0"] == pytest.approx(expected)
    assert records[0]["mean_return_head1"] == pytest.approx(2 * expected)
    assert finished_head_returns(next(iter(SyncCollector(_Heads(1, 1), None, 4, 4, seed=0)))) is None


def test_sum_reward_heads_weights_the_heads_and_checks_its_arguments() -> None:
    env = SumRewardHeads(_Heads(declared=3, width=3), weights=(1.0, 0.5, -1.0))
    assert env.reward_heads == 1
    env.reset_tensors(0)
    # rewards (1, 2, 3): 1 + 1 - 3 = -1
    assert env.step_tensors(torch.zeros(3, dtype=torch.int64)).next[keys.REWARD].tolist() == [[-1.0]] * 3
    plain = SumRewardHeads(_Heads(declared=2, width=2))
    plain.reset_tensors(0)
    assert plain.step_tensors(torch.zeros(3, dtype=torch.int64)).next[keys.REWARD].tolist() == [[3.0]] * 3
    with pytest.raises(ValueError, match="weights must have one entry per reward head \\(3\\)"):
        SumRewardHeads(_Heads(declared=3, width=3), weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="reward_heads=1; expected an env with 2 or more heads"):
        SumRewardHeads(_Heads(declared=1, width=1))


@pytest.mark.parametrize(
    "wrap",
    [
        NormalizeReward,
        lambda env: PotentialShaping(env, lambda obs: obs.sum(-1), gamma=0.9),
        lambda env: CountBonus(env, resolution=1.0),
        NativeVectorEnv,
    ],
    ids=["NormalizeReward", "PotentialShaping", "CountBonus", "NativeVectorEnv"],
)
def test_one_head_wrappers_refuse_a_multi_head_env(wrap) -> None:
    with pytest.raises(ValueError, match=r"needs a one-head reward \[B, 1\]; CoinCorridor has reward_heads=2"):
        wrap(CoinCorridor(num_envs=2))


def test_coin_corridor_walking_right_reaches_the_goal_and_coins_pay_their_side() -> None:
    env = CoinCorridor(num_envs=4, length=3, coin_noise=0.0, coin_reward=0.5, goal_reward=10.0)
    root = env.reset_tensors(0)
    total = torch.zeros(4, 2)
    for step in range(3):
        coin = root[keys.OBSERVATION][:, -2:].argmax(-1)
        out = env.step_tensors(torch.ones(4, dtype=torch.int64))
        reward = out.next[keys.REWARD]
        torch.testing.assert_close(reward[:, 0], 0.5 * (coin == 1).float())
        total += reward
        assert out.next[keys.TERMINATED].squeeze(-1).tolist() == [step == 2] * 4
        root = out.root
    assert total[:, 1].tolist() == [10.0] * 4
    assert root[keys.OBSERVATION][:, 0].tolist() == [1.0] * 4  # reset to cell 0


def test_coin_corridor_truncates_and_a_restored_env_continues_exactly() -> None:
    env = CoinCorridor(num_envs=5, max_episode_steps=4)
    env.reset_tensors(3)
    left = torch.zeros(5, dtype=torch.int64)
    for _ in range(3):
        assert not env.step_tensors(left).next[keys.DONE].any()
    state = env.state_dict()
    out = env.step_tensors(left)
    assert out.next[keys.TRUNCATED].all() and not out.next[keys.TERMINATED].any()
    again = CoinCorridor(num_envs=5, max_episode_steps=4)
    again.load_state_dict(state)
    replay = again.step_tensors(left)
    torch.testing.assert_close(replay.next[keys.REWARD], out.next[keys.REWARD])
    torch.testing.assert_close(replay.root[keys.OBSERVATION], out.root[keys.OBSERVATION])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"length": 0}, "length must be an int >= 1"),
        ({"max_episode_steps": 0}, "max_episode_steps must be an int >= 1"),
        ({"coin_noise": -1.0}, "coin_noise must be >= 0"),
    ],
)
def test_coin_corridor_checks_its_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        CoinCorridor(num_envs=1, **kwargs)
