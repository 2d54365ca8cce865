"""rl4py.envs.GymEnv: gymnasium envs behind the batched TensorDict interface."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from tensordict import TensorDict

from rl4py.collectors import SyncCollector, finished_episodes
from rl4py.envs import CartPole, GymEnv

X_THRESHOLD = 2.4
THETA_THRESHOLD = 12 * 2 * math.pi / 360


class CountdownEnv(gym.Env):
    """A user's env: observation ``[steps left, last action]``, reward = action, ends after ``length`` steps."""

    metadata = {"render_modes": []}

    def __init__(self, length: int = 3, dtype: type = np.float64) -> None:
        self.length = length
        self.dtype = dtype
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), dtype)
        self.action_space = spaces.Discrete(3)
        self.remaining = length

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.remaining = self.length
        return np.array([self.remaining, 0.0], dtype=self.dtype), {}

    def step(self, action):
        self.remaining -= 1
        obs = np.array([self.remaining, float(action)], dtype=self.dtype)
        return obs, float(action), self.remaining == 0, False, {}


class NonFiniteEnv(gym.Env):
    """Emits NaN in the observation or the reward on its ``bad_step``-th step."""

    metadata = {"render_modes": []}

    def __init__(self, where: str, bad_step: int = 2) -> None:
        self.where = where
        self.bad_step = bad_step
        self.observation_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        obs = np.zeros(3, np.float32)
        if self.where == "reset":
            obs[1] = np.nan
        return obs, {}

    def step(self, action):
        self.t += 1
        obs = np.zeros(3, np.float32)
        reward = 0.0
        if self.t == self.bad_step:
            if self.where == "observation":
                obs[2] = np.nan
            else:
                reward = float("inf")
        return obs, reward, False, False, {}


def constant_policy(value: int):
    def policy(td: TensorDict) -> TensorDict:
        td.set("action", torch.full(td.batch_size, value, dtype=torch.int64))
        return td

    return policy


def test_cartpole_shapes_and_dtypes() -> None:
    env = GymEnv("CartPole-v1", num_envs=4)
    assert env.num_envs == 4
    assert env.observation_space.shape == (4, 4)
    td = env.reset(seed=0)
    assert td.batch_size == (4,)
    assert td["observation"].shape == (4, 4)
    assert td["observation"].dtype == torch.float32
    action = env.rand_action(torch.Generator().manual_seed(0))
    assert action.shape == (4,)
    assert action.dtype == torch.int64
    td["action"] = action
    td, root = env.step_and_reset(td)
    assert td["next", "observation"].shape == (4, 4)
    assert td["next", "observation"].dtype == torch.float32
    assert td["next", "reward"].shape == (4, 1)
    assert td["next", "reward"].dtype == torch.float32
    for key in ("terminated", "truncated", "done"):
        assert td["next", key].shape == (4, 1)
        assert td["next", key].dtype == torch.bool
    assert root["observation"].shape == (4, 4)
    assert torch.equal(td["next", "reward"], torch.ones(4, 1))


def test_cartpole_matches_gymnasium_with_true_final_observation() -> None:
    # GymEnv(seed=s) seeds sub-env i with s + i; after an episode end the sub-env resets unseeded,
    # continuing its generator, exactly as a plain gymnasium env reset without a seed
    n, seed = 3, 10
    env = GymEnv("CartPole-v1", num_envs=n)
    refs = [gym.make("CartPole-v1") for _ in range(n)]
    td = env.reset(seed=seed)
    ref_obs = np.stack([ref.reset(seed=seed + i)[0] for i, ref in enumerate(refs)])
    np.testing.assert_array_equal(td["observation"].numpy(), ref_obs)
    gen = torch.Generator().manual_seed(0)
    terminated_rows = 0
    for _ in range(120):
        td["action"] = torch.randint(0, 2, (n,), generator=gen)
        td, root = env.step_and_reset(td)
        for i, ref in enumerate(refs):
            obs, reward, terminated, truncated, _ = ref.step(int(td["action"][i]))
            np.testing.assert_array_equal(td["next", "observation"][i].numpy(), obs)
            assert td["next", "reward"][i, 0] == reward
            assert bool(td["next", "terminated"][i, 0]) == terminated
            assert bool(td["next", "truncated"][i, 0]) == truncated
            assert bool(td["next", "done"][i, 0]) == (terminated or truncated)
            if terminated or truncated:
                obs, _ = ref.reset()
            np.testing.assert_array_equal(root["observation"][i].numpy(), obs)
            if terminated:
                terminated_rows += 1
                final = td["next", "observation"][i].double()
                assert abs(final[0]) > X_THRESHOLD or abs(final[2]) > THETA_THRESHOLD
                assert (root["observation"][i].abs() <= 0.05).all()
        td = root
    assert terminated_rows >= 5


def test_user_env_instance() -> None:
    env = GymEnv(CountdownEnv(length=2))
    assert env.num_envs == 1
    td = env.reset(seed=0)
    assert td["observation"].dtype == torch.float32  # float64 observations become float32
    assert td["observation"].tolist() == [[2.0, 0.0]]
    rows = []
    for action in (1, 2, 0):
        td["action"] = torch.tensor([action])
        td, root = env.step_and_reset(td)
        rows.append(
            (
                td["next", "observation"].tolist(),
                td["next", "reward"].item(),
                td["next", "done"].item(),
                root["observation"].tolist(),
            )
        )
        td = root
    assert rows == [
        ([[1.0, 1.0]], 1.0, False, [[1.0, 1.0]]),
        ([[0.0, 2.0]], 2.0, True, [[2.0, 0.0]]),  # true final observation, then the reset one in the root
        ([[1.0, 0.0]], 0.0, False, [[1.0, 0.0]]),
    ]


def test_user_env_instance_with_several_envs_raises() -> None:
    with pytest.raises(ValueError, match=r"one gymnasium.Env instance but num_envs=2"):
        GymEnv(CountdownEnv(), num_envs=2)


def test_bad_env_argument_raises() -> None:
    with pytest.raises(TypeError, match=r"env must be an env id, a gymnasium.Env.*got int"):
        GymEnv(3)


def test_user_env_factory_through_collector() -> None:
    lengths = iter([2, 3, 4])
    env = GymEnv(lambda: CountdownEnv(next(lengths)), num_envs=3)
    assert env.num_envs == 3
    collector = SyncCollector(env, constant_policy(2), rollout_length=12, total_frames=36, seed=0)
    rollouts = list(collector)
    assert len(rollouts) == 1
    rollout = rollouts[0]
    assert rollout.batch_size == (3, 12)
    assert torch.equal(rollout["next", "reward"], torch.full((3, 12, 1), 2.0))
    for i, length in enumerate((2, 3, 4)):
        returns, lens = finished_episodes(rollout[i])
        assert lens.tolist() == [length] * (12 // length)
        assert returns.tolist() == [2.0 * length] * (12 // length)
        # the countdown observation restarts after every episode
        expected_obs = [float(length - t % length) for t in range(12)]
        assert rollout["observation"][i, :, 0].tolist() == expected_obs
        assert rollout["next", "observation"][i, :, 0].tolist() == [e - 1 for e in expected_obs]
        done = rollout["next", "done"][i, :, 0]
        assert done.tolist() == [(t + 1) % length == 0 for t in range(12)]


def test_acrobot_matches_gymnasium() -> None:
    n, seed = 2, 3
    env = GymEnv("Acrobot-v1", num_envs=n)
    assert env.single_observation_space.shape == (6,)
    assert env.single_action_space == spaces.Discrete(3)
    refs = [gym.make("Acrobot-v1") for _ in range(n)]
    td = env.reset(seed=seed)
    for i, ref in enumerate(refs):
        np.testing.assert_array_equal(td["observation"][i].numpy(), ref.reset(seed=seed + i)[0])
    gen = torch.Generator().manual_seed(1)
    for _ in range(30):
        td["action"] = torch.randint(0, 3, (n,), generator=gen)
        assert td["action"].dtype == torch.int64
        td, root = env.step_and_reset(td)
        for i, ref in enumerate(refs):
            obs, reward, terminated, truncated, _ = ref.step(int(td["action"][i]))
            np.testing.assert_allclose(td["next", "observation"][i].numpy(), obs, rtol=1e-6, atol=1e-6)
            assert td["next", "reward"][i, 0] == reward == -1.0
            assert not terminated and not truncated
        td = root


@pytest.mark.parametrize(
    ("where", "match"),
    [
        ("observation", r"\('next', 'observation'\) holds a non-finite value nan"),
        ("reward", r"\('next', 'reward'\) holds a non-finite value inf"),
    ],
)
def test_non_finite_step_output_raises(where: str, match: str) -> None:
    env = GymEnv(lambda: NonFiniteEnv(where, bad_step=2), num_envs=2)
    td = env.reset(seed=0)
    td["action"] = torch.zeros(2, dtype=torch.int64)
    td = env.step_and_reset(td)[1]  # the first step is fine
    td["action"] = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match=match):
        env.step(td)


def test_non_finite_reset_observation_raises() -> None:
    env = GymEnv(lambda: NonFiniteEnv("reset"), num_envs=2)
    with pytest.raises(ValueError, match=r"'observation' holds a non-finite value nan.*expected finite"):
        env.reset(seed=0)


def test_next_step_autoreset_vector_env_is_refused() -> None:
    vec = SyncVectorEnv([lambda: CountdownEnv(2)] * 2)
    with pytest.raises(ValueError, match=r"autoreset_mode=.*NEXT_STEP.*SAME_STEP"):
        GymEnv(vec)


def test_vector_env_num_envs_mismatch_raises() -> None:
    vec = SyncVectorEnv([lambda: CountdownEnv(2)] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    with pytest.raises(ValueError, match=r"num_envs=3 but the VectorEnv has 2 sub-envs"):
        GymEnv(vec, num_envs=3)


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_vector_env_same_step_or_disabled_keeps_final_observation(mode: AutoresetMode) -> None:
    vec = SyncVectorEnv([lambda: CountdownEnv(2), lambda: CountdownEnv(3)], autoreset_mode=mode)
    env = GymEnv(vec)
    assert env.num_envs == 2
    td = env.reset(seed=0)
    next_obs, root_obs, done = [], [], []
    for _ in range(6):
        td["action"] = torch.tensor([1, 2])
        td, root = env.step_and_reset(td)
        next_obs.append(td["next", "observation"][:, 0].tolist())
        root_obs.append(root["observation"][:, 0].tolist())
        done.append(td["next", "done"][:, 0].tolist())
        td = root
    # sub-env 0 counts 2, 1, (end) 2, 1, ...; sub-env 1 counts 3, 2, 1, (end) 3, ...
    assert next_obs == [[1, 2], [0, 1], [1, 0], [0, 2], [1, 1], [0, 0]]
    assert root_obs == [[1, 2], [2, 1], [1, 3], [2, 2], [1, 1], [2, 3]]
    assert done == [[False, False], [True, False], [False, True], [True, False], [False, False], [True, True]]


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_vector_env_without_copy_keeps_each_step_observation(mode: AutoresetMode) -> None:
    # a VectorEnv built with copy=False returns its own observation buffer at every step; the
    # adapter must not keep views of it, or earlier steps (and the final observation) are overwritten
    # float32 observations: no dtype conversion that would copy them by chance
    vec = SyncVectorEnv([lambda: CountdownEnv(3, np.float32)] * 2, autoreset_mode=mode, copy=False)
    collector = SyncCollector(GymEnv(vec), constant_policy(1), rollout_length=6, seed=0)
    rollout = collector.rollout()
    assert rollout["observation"][:, :, 0].tolist() == [[3, 2, 1, 3, 2, 1]] * 2
    assert rollout["next", "observation"][:, :, 0].tolist() == [[2, 1, 0, 2, 1, 0]] * 2


def test_out_of_range_action_raises() -> None:
    env = GymEnv("CartPole-v1", num_envs=2)
    td = env.reset(seed=0)
    td["action"] = torch.tensor([0, 2])
    with pytest.raises(
        ValueError, match=r"GymEnv\(CartPole-v1\): 'action' holds 2 at index \[1\], outside the action space"
    ):
        env.step(td)
    td["action"] = torch.tensor([0.0, 1.0])
    with pytest.raises(TypeError, match=r"'action' has dtype torch.float32, expected an integer dtype"):
        env.step(td)


def test_native_and_gym_cartpole_spaces_are_equal() -> None:
    native, adapted = CartPole(num_envs=2), GymEnv("CartPole-v1", num_envs=2)
    assert native.single_observation_space == adapted.single_observation_space
    assert native.single_action_space == adapted.single_action_space
    assert native.observation_space == adapted.observation_space
    assert native.action_space == adapted.action_space
    assert native.single_observation_space == gym.make("CartPole-v1").observation_space


def test_seeding_reproducible() -> None:
    a = GymEnv("CartPole-v1", num_envs=3).reset(seed=7)["observation"]
    b = GymEnv("CartPole-v1", num_envs=3).reset(seed=7)["observation"]
    c = GymEnv("CartPole-v1", num_envs=3).reset(seed=8)["observation"]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    torch.manual_seed(0)
    d = GymEnv("CartPole-v1", num_envs=3).reset()["observation"]
    torch.manual_seed(0)
    e = GymEnv("CartPole-v1", num_envs=3).reset()["observation"]
    assert torch.equal(d, e)


def test_rand_action_on_an_unbounded_box_is_an_error_not_nan():
    import gymnasium as gym
    import numpy as np

    from rl4py import GymEnv

    class Unbounded(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        action_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)

        def reset(self, *, seed=None, options=None):
            return np.zeros(1, np.float32), {}

        def step(self, action):
            return np.zeros(1, np.float32), 0.0, False, False, {}

    with pytest.raises(ValueError, match="rand_action needs finite bounds"):
        GymEnv(Unbounded).rand_action()
