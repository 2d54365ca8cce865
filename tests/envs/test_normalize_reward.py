"""NormalizeReward: the same scaled rewards as gymnasium's vector NormalizeReward, exact resume."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers.vector import NormalizeReward as GymNormalizeReward
from tensordict import TensorDict

from rl4py.envs import EnvBase, EnvStep, EpisodeStats, NormalizeReward, Pendulum, find_wrapper

STEPS, NUM_ENVS = 300, 3


def scripted(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rewards of mixed scale and random episode ends, ``[STEPS, NUM_ENVS]`` each."""
    rng = np.random.default_rng(seed)
    rewards = rng.normal(3.0, 10.0, (STEPS, NUM_ENVS)).astype(np.float32)
    terminated = rng.random((STEPS, NUM_ENVS)) < 0.05
    truncated = ~terminated & (rng.random((STEPS, NUM_ENVS)) < 0.03)
    return rewards, terminated, truncated


class ScriptedEnv(EnvBase):
    """Replays a reward / terminated / truncated script (the observation is the step count)."""

    def __init__(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        super().__init__(
            num_envs=rewards.shape[1],
            single_observation_space=gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
            single_action_space=gym.spaces.Discrete(2),
        )
        self.script = [torch.as_tensor(a).unsqueeze(-1) for a in (rewards, terminated, truncated)]
        self.t = 0

    def _obs(self) -> torch.Tensor:
        return torch.full((self.num_envs, 1), float(self.t))

    def _reset(self, seed):
        self.t = 0
        return {"observation": self._obs()}

    def _step(self, action):
        reward, terminated, truncated = (a[self.t] for a in self.script)
        self.t += 1
        obs = self._obs()
        return EnvStep(
            next={
                "observation": obs,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "done": terminated | truncated,
            },
            root={"observation": obs},
        )

    def state_dict(self) -> dict:
        return {"t": self.t}

    def load_state_dict(self, state: dict) -> None:
        self.t = state["t"]


class GymScriptedVectorEnv(VectorEnv):
    """The same script as a gymnasium vector env with same-step auto-reset (as rl4py envs reset)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        self.num_envs = rewards.shape[1]
        self.script = (rewards, terminated, truncated)
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros((self.num_envs, 1), np.float32), {}

    def step(self, actions):
        rewards, terminated, truncated = (a[self.t] for a in self.script)
        self.t += 1
        return np.full((self.num_envs, 1), self.t, np.float32), rewards.astype(np.float64), terminated, truncated, {}


def step_all(env: EnvBase, td: TensorDict) -> tuple[TensorDict, TensorDict]:
    td["action"] = torch.zeros(env.num_envs, dtype=torch.int64)
    return env.step_and_reset(td)


@pytest.mark.parametrize(("gamma", "seed"), [(0.99, 0), (0.9, 1), (1.0, 2)])
def test_scaled_rewards_match_gymnasium(gamma: float, seed: int) -> None:
    script = scripted(seed)
    ours = NormalizeReward(ScriptedEnv(*script), gamma=gamma)
    theirs = GymNormalizeReward(GymScriptedVectorEnv(*script), gamma=gamma)
    td = ours.reset(seed=0)
    theirs.reset(seed=0)
    for t in range(STEPS):
        step, td = step_all(ours, td)
        _, expected, *_ = theirs.step(np.zeros(NUM_ENVS, np.int64))
        got = step["next", "reward"].squeeze(-1).double().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=f"step {t}")
    np.testing.assert_allclose(ours.var.item(), theirs.return_rms.var, rtol=1e-6)  # theirs sums in float32
    assert ours.count.item() == pytest.approx(theirs.return_rms.count)


def test_rewards_are_scaled_down_and_episode_returns_stay_raw() -> None:
    rewards, terminated, truncated = scripted(3)
    env = NormalizeReward(ScriptedEnv(rewards, terminated, truncated), gamma=0.99)
    assert find_wrapper(env, EpisodeStats) is env.env  # the episode statistics sit inside the scaling
    td = env.reset(seed=0)
    raw_sum = np.zeros(NUM_ENVS)
    for t in range(STEPS):
        step, td = step_all(env, td)
        raw_sum += rewards[t]
        done = terminated[t] | truncated[t]
        episode_return = step["next", "episode_return"].squeeze(-1).numpy()
        np.testing.assert_allclose(episode_return[done], raw_sum[done], rtol=1e-4)
        raw_sum[done] = 0.0
    # the discounted returns of rewards ~ N(3, 10) have a std far above 1: the scaled rewards are smaller
    assert env.var.item() > 100.0
    assert step["next", "reward"].abs().max() < np.abs(rewards[-1]).max()


def test_an_existing_episode_stats_is_kept() -> None:
    inner = EpisodeStats(ScriptedEnv(*scripted(0)))
    env = NormalizeReward(inner)
    assert env.env is inner


def test_frozen_keeps_statistics_but_tracks_returns() -> None:
    env = NormalizeReward(ScriptedEnv(*scripted(4)), gamma=0.9)
    td = env.reset(seed=0)
    for _ in range(20):
        _, td = step_all(env, td)
    env.frozen = True
    var, count, returns = env.var.clone(), env.count.clone(), env.returns.clone()
    step, td = step_all(env, td)
    assert torch.equal(env.var, var) and torch.equal(env.count, count)
    assert not torch.equal(env.returns, returns)
    expected = torch.as_tensor(scripted(4)[0][20]).unsqueeze(-1) / torch.sqrt(var + 1e-8)
    torch.testing.assert_close(step["next", "reward"], expected.float())


def test_state_dict_resumes_exactly() -> None:
    env = NormalizeReward(Pendulum(num_envs=4), gamma=0.9)
    td = env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(130):
        td["action"] = torch.rand(4, 1, generator=gen) * 4 - 2
        td = env.step_and_reset(td)[1]
    state = copy.deepcopy(env.state_dict())
    restored = NormalizeReward(Pendulum(num_envs=4), gamma=0.9)
    restored.load_state_dict(state)
    td_restored = td.clone()
    for _ in range(150):  # past the 200-step truncation: the returns restart in both
        action = torch.rand(4, 1, generator=gen) * 4 - 2
        td["action"], td_restored["action"] = action, action.clone()
        step, td = env.step_and_reset(td)
        step_restored, td_restored = restored.step_and_reset(td_restored)
        assert torch.equal(step["next", "reward"], step_restored["next", "reward"])
        assert torch.equal(step["next", "episode_return"], step_restored["next", "episode_return"])
    for name in ("mean", "var", "count", "returns"):
        assert torch.equal(getattr(env, name), getattr(restored, name)), name


@pytest.mark.parametrize(("kwargs", "match"), [({"gamma": 1.5}, "gamma must be in"), ({"epsilon": 0.0}, "epsilon")])
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=f"NormalizeReward: {match}"):
        NormalizeReward(Pendulum(num_envs=2), **kwargs)
