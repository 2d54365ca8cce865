"""rl4py.envs wrappers: RewardClip, ObservationNorm, EpisodeStats, find_wrapper."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py.envs import CartPole, EnvBase, EnvStep, EnvWrapper, EpisodeStats, ObservationNorm, RewardClip, find_wrapper
from rl4py.testing import CountingEnv


class RewardTableEnv(EnvBase):
    """Action ``a`` earns ``table[a]``; the observation is the action taken; never ends."""

    def __init__(self, table: list[float]) -> None:
        super().__init__(
            num_envs=len(table),
            single_observation_space=gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
            single_action_space=gym.spaces.Discrete(len(table)),
        )
        self.table = torch.tensor(table)

    def _reset(self, seed):
        return {"observation": torch.zeros(self.num_envs, 1)}

    def _step(self, action):
        obs = action.to(torch.float32).unsqueeze(-1)
        flags = torch.zeros(self.num_envs, 1, dtype=torch.bool)
        return EnvStep(
            next={
                "observation": obs,
                "reward": self.table[action].unsqueeze(-1),
                "terminated": flags,
                "truncated": flags.clone(),
                "done": flags.clone(),
            },
            root={"observation": obs},
        )


class DiscreteObservationEnv(RewardTableEnv):
    def __init__(self) -> None:
        EnvBase.__init__(
            self,
            num_envs=2,
            single_observation_space=gym.spaces.Discrete(4),
            single_action_space=gym.spaces.Discrete(2),
        )


def step_all(env: EnvBase, action: torch.Tensor) -> TensorDict:
    return env.step(TensorDict({"action": action}, batch_size=[env.num_envs]))


# ------------------------------------------------------------------ RewardClip
def test_reward_clip_clips_only_beyond_limit() -> None:
    table = [-3.0, -1.0, -0.5, 0.0, 0.7, 1.0, 2.5]
    env = RewardClip(RewardTableEnv(table), limit=1.0)
    env.reset(seed=0)
    td = step_all(env, torch.arange(len(table)))
    assert td["next", "reward"].squeeze(-1).tolist() == pytest.approx([-1.0, -1.0, -0.5, 0.0, 0.7, 1.0, 1.0])
    # the rest of the step is untouched
    assert td["next", "observation"].squeeze(-1).tolist() == list(range(len(table)))
    assert not td["next", "done"].any()


def test_reward_clip_other_limit() -> None:
    env = RewardClip(RewardTableEnv([-3.0, -0.5, 0.7, 2.5]), limit=0.6)
    env.reset(seed=0)
    td = step_all(env, torch.arange(4))
    assert td["next", "reward"].squeeze(-1).tolist() == pytest.approx([-0.6, -0.5, 0.6, 0.6])


@pytest.mark.parametrize("limit", [0.0, -1.0])
def test_reward_clip_non_positive_limit_raises(limit: float) -> None:
    with pytest.raises(ValueError, match=rf"RewardClip: limit must be > 0, got {limit}"):
        RewardClip(CartPole(), limit=limit)


def test_wrapper_of_non_env_raises() -> None:
    with pytest.raises(TypeError, match=r"RewardClip: env must be an rl4py EnvBase, got CartPoleEnv"):
        RewardClip(gym.make("CartPole-v1").unwrapped)


def test_wrapped_env_still_validates_actions() -> None:
    env = RewardClip(CartPole(num_envs=2))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"CartPole: 'action' holds 3 at index \[0\], outside the action space"):
        step_all(env, torch.tensor([3, 0]))


# ------------------------------------------------------------- ObservationNorm
def test_observation_norm_statistics_match_numpy() -> None:
    n = 8
    raw = CartPole(num_envs=n)
    env = ObservationNorm(CartPole(num_envs=n), clip=10.0)
    raw_root = raw.reset(seed=0)
    td = env.reset(seed=0)
    seen = [raw_root["observation"].numpy()]  # the reset batch ...
    gen = torch.Generator().manual_seed(0)
    done_seen = False
    for _ in range(40):
        action = torch.randint(0, 2, (n,), generator=gen)
        raw_root["action"], td["action"] = action, action.clone()
        raw_td, raw_root = raw.step_and_reset(raw_root)
        td, root = env.step_and_reset(td)
        seen.append(raw_td["next", "observation"].numpy())  # ... every next observation ...
        done = raw_td["next", "done"].squeeze(-1)
        seen.append(raw_root["observation"][done].numpy())  # ... and every new episode's first one
        done_seen |= bool(done.any())
        all_obs = np.concatenate(seen).astype(np.float64)
        np.testing.assert_allclose(env.mean.numpy(), all_obs.mean(0), rtol=0, atol=1e-5)
        np.testing.assert_allclose(env.var.numpy(), all_obs.var(0), rtol=0, atol=1e-5)
        assert env.count.item() == len(all_obs)
        # outputs are normalized with the statistics that include this step
        scale = np.sqrt(all_obs.var(0) + 1e-8)
        expected_next = (raw_td["next", "observation"].numpy() - all_obs.mean(0)) / scale
        expected_root = (raw_root["observation"].numpy() - all_obs.mean(0)) / scale
        np.testing.assert_allclose(td["next", "observation"].numpy(), expected_next, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(root["observation"].numpy(), expected_root, rtol=1e-5, atol=1e-5)
        assert td["next", "observation"].dtype == torch.float32
        td = root
    assert done_seen


def test_observation_norm_clips() -> None:
    n = 16
    raw = CartPole(num_envs=n)
    env = ObservationNorm(CartPole(num_envs=n), clip=0.5)
    raw_root, td = raw.reset(seed=1), env.reset(seed=1)
    gen = torch.Generator().manual_seed(1)
    clipped = untouched = 0
    for _ in range(10):
        action = torch.randint(0, 2, (n,), generator=gen)
        raw_root["action"], td["action"] = action, action.clone()
        raw_td, raw_root = raw.step_and_reset(raw_root)
        td, root = env.step_and_reset(td)
        z = (raw_td["next", "observation"].double() - env.mean) / torch.sqrt(env.var + env.epsilon)
        out = td["next", "observation"].double()
        beyond = z.abs() > 0.5
        assert torch.equal(out[beyond], 0.5 * z[beyond].sign())
        torch.testing.assert_close(out[~beyond], z[~beyond], rtol=1e-6, atol=1e-6)
        clipped += int(beyond.sum())
        untouched += int((~beyond).sum())
        td = root
    assert clipped > 0 and untouched > 0


def test_observation_norm_frozen_keeps_statistics() -> None:
    env = ObservationNorm(CartPole(num_envs=4))
    td = env.reset(seed=0)
    mean, var, count = env.mean.clone(), env.var.clone(), env.count.clone()
    env.frozen = True
    for _ in range(5):
        td["action"] = torch.ones(4, dtype=torch.int64)
        td = env.step_and_reset(td)[1]
    assert torch.equal(env.mean, mean) and torch.equal(env.var, var) and torch.equal(env.count, count)


def test_observation_norm_state_dict_round_trip() -> None:
    n = 8
    env = ObservationNorm(CartPole(num_envs=n))
    td = env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(15):
        td["action"] = torch.randint(0, 2, (n,), generator=gen)
        td = env.step_and_reset(td)[1]
    state = copy.deepcopy(env.state_dict())
    saved_mean = state["mean"].clone()
    restored = ObservationNorm(CartPole(num_envs=n))
    restored.load_state_dict(state)
    td_restored = td.clone()
    for _ in range(40):
        action = torch.randint(0, 2, (n,), generator=gen)
        td["action"], td_restored["action"] = action, action.clone()
        td, root = env.step_and_reset(td)
        td_restored, root_restored = restored.step_and_reset(td_restored)
        assert (td == td_restored).all()
        assert torch.equal(root["observation"], root_restored["observation"])
        td, td_restored = root, root_restored
    assert torch.equal(env.mean, restored.mean)
    assert torch.equal(env.var, restored.var)
    assert torch.equal(env.count, restored.count)
    assert torch.equal(state["mean"], saved_mean)  # the state dict is a snapshot, not a view


def test_observation_norm_needs_box_space() -> None:
    with pytest.raises(TypeError, match=r"ObservationNorm: needs a Box observation space, got Discrete\(4\)"):
        ObservationNorm(DiscreteObservationEnv())


@pytest.mark.parametrize("clip", [0.0, -2.0])
def test_observation_norm_bad_clip_raises(clip: float) -> None:
    with pytest.raises(ValueError, match=r"ObservationNorm: clip must be > 0"):
        ObservationNorm(CartPole(), clip=clip)


# ---------------------------------------------------------------- EpisodeStats
def test_episode_stats_counts_whole_episodes_across_step_calls() -> None:
    env = EpisodeStats(CountingEnv(num_envs=2, episode_length=[3, 5]))
    td = env.reset(seed=0)
    finished: dict[int, list[tuple[float, int]]] = {0: [], 1: []}
    for _ in range(15):
        td["action"] = torch.zeros(2, dtype=torch.int64)
        td, root = env.step_and_reset(td)
        # running totals: CountingEnv's next observation is the step count of the episode
        assert (
            td["next", "episode_length"].squeeze(-1).tolist() == td["next", "observation"].squeeze(-1).long().tolist()
        )
        assert torch.equal(td["next", "episode_return"], td["next", "observation"])
        assert td["next", "episode_return"].dtype == torch.float32
        assert td["next", "episode_length"].dtype == torch.int64
        for i in range(2):
            if td["next", "done"][i, 0]:
                finished[i].append(
                    (td["next", "episode_return"][i, 0].item(), td["next", "episode_length"][i, 0].item())
                )
        td = root
    assert finished == {0: [(3.0, 3)] * 5, 1: [(5.0, 5)] * 3}


def test_episode_stats_reset_restarts_accumulators() -> None:
    env = EpisodeStats(CountingEnv(num_envs=1, episode_length=4))
    td = env.reset(seed=0)
    for _ in range(2):
        td["action"] = torch.zeros(1, dtype=torch.int64)
        td = env.step_and_reset(td)[1]
    td = env.reset(seed=0)
    lengths = []
    for _ in range(4):
        td["action"] = torch.zeros(1, dtype=torch.int64)
        td, root = env.step_and_reset(td)
        lengths.append(td["next", "episode_length"].item())
        td = root
    assert lengths == [1, 2, 3, 4]


def test_episode_stats_state_dict_round_trip() -> None:
    env = EpisodeStats(CartPole(num_envs=6))
    td = env.reset(seed=2)
    gen = torch.Generator().manual_seed(2)
    for _ in range(7):
        td["action"] = torch.randint(0, 2, (6,), generator=gen)
        td = env.step_and_reset(td)[1]
    restored = EpisodeStats(CartPole(num_envs=6))
    restored.load_state_dict(copy.deepcopy(env.state_dict()))
    td_restored = td.clone()
    done_seen = False
    for _ in range(40):
        action = torch.randint(0, 2, (6,), generator=gen)
        td["action"], td_restored["action"] = action, action.clone()
        td, root = env.step_and_reset(td)
        td_restored, root_restored = restored.step_and_reset(td_restored)
        assert torch.equal(td["next", "episode_return"], td_restored["next", "episode_return"])
        assert torch.equal(td["next", "episode_length"], td_restored["next", "episode_length"])
        done_seen |= bool(td["next", "done"].any())
        td, td_restored = root, root_restored
    assert done_seen


# ---------------------------------------------------------------- find_wrapper
def test_find_wrapper_and_attribute_forwarding() -> None:
    base = CartPole(num_envs=2, max_episode_steps=77)
    norm = ObservationNorm(base)
    stats = EpisodeStats(norm)
    outer = RewardClip(stats)
    assert find_wrapper(outer, RewardClip) is outer
    assert find_wrapper(outer, EpisodeStats) is stats
    assert find_wrapper(outer, ObservationNorm) is norm
    assert find_wrapper(outer, EnvWrapper) is outer  # the outermost match
    assert find_wrapper(norm, EpisodeStats) is None
    assert find_wrapper(base, EpisodeStats) is None
    # attributes the wrappers lack come from the wrapped env
    assert outer.max_episode_steps == 77
    assert outer.num_envs == 2
    assert outer.single_observation_space == base.single_observation_space
    assert outer.name == "RewardClip(EpisodeStats(ObservationNorm(CartPole)))"
    with pytest.raises(AttributeError, match="no_such_attribute"):
        outer.no_such_attribute


def test_frozen_observation_norm_equals_the_wrapper_bit_for_bit():
    from rl4py.envs import FrozenObservationNorm

    env = ObservationNorm(CartPole(num_envs=8), clip=3.0, epsilon=1e-4)
    env.reset_tensors(seed=0)
    for _ in range(30):
        env.step_tensors(torch.randint(2, (8,)))
    frozen = env.as_module()
    assert isinstance(frozen, FrozenObservationNorm) and frozen.clip == 3.0
    obs = torch.randn(64, 4) * 5
    assert torch.equal(frozen(obs), env.normalize(obs))
    assert frozen(obs).abs().max() <= 3.0
    with pytest.raises(ValueError, match="mean .* and var .* differ"):
        FrozenObservationNorm(torch.zeros(4), torch.ones(3))
