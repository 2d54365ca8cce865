"""rl4py.envs.NativeVectorEnv: native envs as gymnasium vector envs, checked against the native
env's own outputs and driven by gymnasium's own vector wrappers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers.vector import ClipReward, NormalizeObservation, NormalizeReward, RecordEpisodeStatistics

from rl4py.envs import CartPole, EpisodeStats, GridWorld, GymEnv, MountainCarContinuous, NativeVectorEnv, Pendulum


def test_declares_same_step_autoreset_and_the_native_spaces() -> None:
    native = CartPole(num_envs=3)
    envs = NativeVectorEnv(native)
    assert isinstance(envs, VectorEnv)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert envs.num_envs == 3
    assert envs.single_observation_space == native.single_observation_space
    assert envs.single_action_space == gym.spaces.Discrete(2)
    assert envs.action_space == gym.spaces.MultiDiscrete([2, 2, 2])
    assert envs.observation_space.shape == (3, 4)
    assert envs.unwrapped is envs
    assert repr(envs) == "NativeVectorEnv(CartPole, num_envs=3)"


def test_steps_equal_the_native_envs_own_outputs_with_final_obs_at_episode_ends() -> None:
    n = 8
    native = CartPole(num_envs=n)
    twin = CartPole(num_envs=n)
    envs = NativeVectorEnv(twin)
    obs, infos = envs.reset(seed=3)
    root = native.reset(seed=3)
    np.testing.assert_array_equal(obs, root["observation"].numpy())
    assert infos == {} and obs.dtype == np.float32
    gen = np.random.default_rng(0)
    episodes_ended = 0
    for _ in range(120):
        actions = gen.integers(0, 2, n)
        root["action"] = torch.as_tensor(actions)
        td, root = native.step_and_reset(root)
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        done = td["next", "done"].squeeze(-1).numpy()
        # gymnasium's dtypes: float64 rewards, bool flags; the observation is the next step's (reset where done)
        assert rewards.dtype == np.float64 and terminated.dtype == np.bool_ and truncated.dtype == np.bool_
        np.testing.assert_array_equal(obs, root["observation"].numpy())
        np.testing.assert_array_equal(rewards, td["next", "reward"].squeeze(-1).numpy())
        np.testing.assert_array_equal(terminated, td["next", "terminated"].squeeze(-1).numpy())
        np.testing.assert_array_equal(truncated, td["next", "truncated"].squeeze(-1).numpy())
        if not done.any():
            assert "final_obs" not in infos
            continue
        episodes_ended += int(done.sum())
        # gymnasium's same-step layout (SyncVectorEnv's): an object array with None where not done, and masks
        np.testing.assert_array_equal(infos["_final_obs"], done)
        np.testing.assert_array_equal(infos["_final_info"], done)
        assert infos["final_info"] == {}
        for i in range(n):
            if done[i]:
                np.testing.assert_array_equal(infos["final_obs"][i], td["next", "observation"][i].numpy())
                assert not np.array_equal(infos["final_obs"][i], obs[i])
            else:
                assert infos["final_obs"][i] is None
    assert episodes_ended > 20


def test_matches_gymnasiums_own_same_step_info_layout() -> None:
    # gymnasium's SyncVectorEnv in same-step mode, stepped until a sub-env ends, gives the reference keys
    ref = gym.make_vec(
        "CartPole-v1", num_envs=2, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}
    )
    envs = NativeVectorEnv(CartPole(num_envs=2))
    ref.reset(seed=0)
    envs.reset(seed=0)
    actions = np.array([1, 1])
    for name, env in (("gymnasium", ref), ("rl4py", envs)):
        for _ in range(100):
            *_, infos = env.step(actions)
            if infos:
                break
        assert set(infos) == {"final_obs", "_final_obs", "final_info", "_final_info"}, name
        assert infos["final_obs"].dtype == object and infos["final_obs"].shape == (2,), name
        assert infos["_final_obs"].dtype == np.bool_, name


def test_record_episode_statistics_sees_the_native_episodes() -> None:
    n = 4
    native = EpisodeStats(Pendulum(num_envs=n, max_episode_steps=15))
    envs = RecordEpisodeStatistics(NativeVectorEnv(Pendulum(num_envs=n, max_episode_steps=15)))
    envs.reset(seed=1)
    root = native.reset(seed=1)
    gen = np.random.default_rng(0)
    seen = 0
    for t in range(45):
        actions = gen.uniform(-2, 2, (n, 1)).astype(np.float32)
        root["action"] = torch.as_tensor(actions)
        td, root = native.step_and_reset(root)
        *_, infos = envs.step(actions)
        done = td["next", "done"].squeeze(-1).numpy()
        if not done.any():
            assert "episode" not in infos
            continue
        # every 15th step all four episodes end; gymnasium's wrapper counts them from our same-step resets
        assert t % 15 == 14 and done.all()
        np.testing.assert_array_equal(infos["_episode"], done)
        np.testing.assert_allclose(infos["episode"]["r"], td["next", "episode_return"].squeeze(-1).numpy(), rtol=1e-5)
        np.testing.assert_array_equal(infos["episode"]["l"], td["next", "episode_length"].squeeze(-1).numpy())
        assert (infos["episode"]["l"] == 15).all()
        seen += n
    assert seen == 12 and envs.episode_count == 12


def test_reward_wrappers_and_the_observation_wrappers_refusal() -> None:
    envs = ClipReward(NativeVectorEnv(CartPole(num_envs=2)), min_reward=0.0, max_reward=0.5)
    envs.reset(seed=0)
    _, rewards, *_ = envs.step(np.array([0, 1]))
    np.testing.assert_array_equal(rewards, [0.5, 0.5])
    envs = NormalizeReward(NativeVectorEnv(Pendulum(num_envs=2)))  # accepts same-step envs
    envs.reset(seed=0)
    for _ in range(3):
        _, rewards, *_ = envs.step(np.zeros((2, 1), dtype=np.float32))
    assert np.isfinite(rewards).all()
    # gymnasium's stateful observation wrappers accept only next-step envs, and say so
    with pytest.raises(ValueError, match="NEXT_STEP"):
        NormalizeObservation(NativeVectorEnv(CartPole(num_envs=2)))


def test_seeding_resets_like_the_native_env_and_refuses_per_env_seeds() -> None:
    envs = NativeVectorEnv(MountainCarContinuous(num_envs=5))
    a, _ = envs.reset(seed=7)
    b, _ = envs.reset(seed=7)
    c, _ = envs.reset(seed=8)
    np.testing.assert_array_equal(a, MountainCarContinuous(num_envs=5).reset(seed=7)["observation"].numpy())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert envs.np_random_seed == 8
    with pytest.raises(TypeError, match=r"NativeVectorEnv\(MountainCarContinuous\): seed must be an int or None"):
        envs.reset(seed=[1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match=r"reset options are not supported, got \{'reset_mask'"):
        envs.reset(options={"reset_mask": np.ones(5, dtype=bool)})


def test_float64_and_list_actions_are_converted_and_bad_actions_name_the_env() -> None:
    envs = NativeVectorEnv(MountainCarContinuous(num_envs=2))
    with pytest.raises(RuntimeError, match=r"NativeVectorEnv\(MountainCarContinuous\): call reset\(\) before step\(\)"):
        envs.step(np.zeros((2, 1)))
    envs.reset(seed=0)
    native = MountainCarContinuous(num_envs=2)
    native.reset(seed=0)
    obs, rewards, *_ = envs.step(np.array([[0.3], [-0.7]]))  # float64, as a user's numpy policy may give
    out = native.step_tensors(torch.tensor([[0.3], [-0.7]], dtype=torch.float32))
    np.testing.assert_array_equal(obs, out.root["observation"].numpy())
    np.testing.assert_array_equal(rewards, out.next["reward"].squeeze(-1).numpy())
    envs = NativeVectorEnv(CartPole(num_envs=2))
    envs.reset(seed=0)
    envs.step([0, 1])
    with pytest.raises(ValueError, match=r"CartPole: 'action' holds 2 at index \[1\], outside the action space"):
        envs.step(np.array([0, 2]))


def test_action_masks_are_infos_and_terminal_masks_are_final_info() -> None:
    # GridWorld's 1x3 corridor: moving right (3) twice from the left end reaches the goal
    native = GridWorld(num_envs=2, layout=["S.G"])
    envs = NativeVectorEnv(native)
    _, infos = envs.reset(seed=0)
    np.testing.assert_array_equal(infos["action_mask"], [[False, False, False, True]] * 2)
    np.testing.assert_array_equal(infos["_action_mask"], [True, True])
    _, _, terminated, _, infos = envs.step(np.array([3, 3]))
    assert not terminated.any()
    np.testing.assert_array_equal(infos["action_mask"], [[False, False, True, True]] * 2)
    _, _, terminated, _, infos = envs.step(np.array([3, 2]))
    assert terminated.tolist() == [True, False]
    # info: the mask of the state each sub-env is now in (row 0 reset to the start); final_info: row 0's terminal
    np.testing.assert_array_equal(infos["action_mask"], [[False, False, False, True]] * 2)
    np.testing.assert_array_equal(infos["final_info"]["_action_mask"], [True, False])
    np.testing.assert_array_equal(infos["final_info"]["action_mask"][0], native.action_mask_table[2].numpy())


def test_render_returns_one_frame_per_sub_env() -> None:
    envs = NativeVectorEnv(CartPole(num_envs=2), render_mode="rgb_array")
    envs.reset(seed=0)
    frames = envs.render()
    assert len(frames) == 2 and frames[0].shape == (400, 600, 3) and frames[0].dtype == np.uint8
    assert NativeVectorEnv(CartPole(num_envs=2)).render() is None
    with pytest.raises(ValueError, match=r"NativeVectorEnv\(Pendulum\): render_mode='rgb_array' needs an env"):
        NativeVectorEnv(Pendulum(num_envs=2), render_mode="rgb_array")
    with pytest.raises(TypeError, match="must be an rl4py EnvBase, got CartPoleEnv"):
        NativeVectorEnv(gym.make("CartPole-v1").unwrapped)


@pytest.mark.parametrize("make", [lambda: CartPole(num_envs=6), lambda: GridWorld(num_envs=6, layout=["S..", ".#G"])])
def test_round_trip_through_rl4pys_gymnasium_adapter_reproduces_the_native_env(make) -> None:
    # GymEnv reads same-step vector envs (final_obs, final_info masks): wrapping the adapter must give
    # back the native env's transitions, terminal observations and masks included
    native, round_trip = make(), GymEnv(NativeVectorEnv(make()))
    root, root_rt = native.reset(seed=4), round_trip.reset(seed=4)
    assert set(root_rt.keys()) == set(root.keys())
    gen = torch.Generator().manual_seed(0)
    ended = 0
    for _ in range(60):
        action = native.rand_action(gen)
        root["action"], root_rt["action"] = action, action.clone()
        td, root = native.step_and_reset(root)
        td_rt, root_rt = round_trip.step_and_reset(root_rt)
        for key in td["next"].keys():  # noqa: SIM118 - iterating a TensorDict walks its rows
            assert torch.equal(td_rt["next", key].to(td["next", key].dtype), td["next", key]), key
        for key in root.keys():  # noqa: SIM118
            assert torch.equal(root_rt[key], root[key]), key
        ended += int(td["next", "done"].sum())
    assert ended > 5
