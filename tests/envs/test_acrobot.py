"""rl4py.envs.Acrobot against gymnasium's Acrobot-v1 (the reference implementation), step for step."""

from __future__ import annotations

import math
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py.envs import Acrobot, make_env

Controller = Callable[[np.ndarray, np.random.Generator], int]


def against_velocity(obs: np.ndarray, rng: np.random.Generator) -> int:
    """Closed loop: torque against the first link's swing; reaches the goal in ~70-140 steps."""
    return 0 if obs[4] > 0 else 2


def random_actions(obs: np.ndarray, rng: np.random.Generator) -> int:
    """Open loop: uniform torques; the acrobot stays low and the episode is truncated at 500 steps."""
    return int(rng.integers(0, 3))


def compare_episodes(
    controller: Controller, closed_loop: bool, seeds: list[int], dtype: torch.dtype
) -> tuple[float, list[tuple[int, bool, bool]]]:
    """Runs one Acrobot-v1 episode per seed in gymnasium and in one row of our env, from our reset's states.

    Closed loop, each side's controller reads its own observations; open loop, our env replays
    gymnasium's actions. Rewards and flags must be equal at every step; returns the largest
    observation difference and, per seed, ``(last step, terminated, truncated)``.
    """
    n = len(seeds)
    env = Acrobot(num_envs=n, dtype=dtype)
    ours = env.reset(seed=0)["observation"]
    refs = [gym.make("Acrobot-v1") for _ in seeds]
    ref_obs = []
    for i, (ref, seed) in enumerate(zip(refs, seeds)):
        ref.reset(seed=seed)
        # gymnasium's state from our reset (float32 values, as gymnasium's own reset stores them)
        ref.unwrapped.state = env.state[i].numpy().astype(np.float32)
        ref_obs.append(ref.unwrapped._get_ob())
    np.testing.assert_array_equal(ours.numpy(), np.stack(ref_obs))
    rngs = [np.random.default_rng(100 + s) for s in seeds]
    ends: list[tuple[int, bool, bool] | None] = [None] * n
    obs_error = 0.0
    for t in range(500):
        ref_actions = [controller(o, r) for o, r in zip(ref_obs, rngs)]
        actions = [controller(o, None) for o in ours.numpy()] if closed_loop else ref_actions
        td = env.step(TensorDict({"action": torch.tensor(actions)}, batch_size=[n]))
        ours = td["next", "observation"]
        for i, ref in enumerate(refs):
            if ends[i] is not None:
                continue  # our row has auto-reset; gymnasium's episode is over
            obs, reward, terminated, truncated, _ = ref.step(ref_actions[i])
            ref_obs[i] = obs
            assert closed_loop or actions[i] == ref_actions[i]
            obs_error = max(obs_error, float(np.abs(ours[i].numpy() - obs).max()))
            assert td["next", "reward"][i, 0].item() == reward, f"seed {seeds[i]}, step {t}"
            assert bool(td["next", "terminated"][i, 0]) == terminated, f"seed {seeds[i]}, step {t}"
            assert bool(td["next", "truncated"][i, 0]) == truncated, f"seed {seeds[i]}, step {t}"
            assert bool(td["next", "done"][i, 0]) == (terminated or truncated)
            if terminated or truncated:
                ends[i] = (t, terminated, truncated)
    return obs_error, ends


def test_float64_terminating_episodes_match_gymnasium_exactly() -> None:
    # the same float64 operations in the same order as gymnasium's _dsdt / rk4: the observations
    # came out bitwise equal (measured 0.0); 1e-6 leaves room for a libm cos/sin differing in the last bit
    obs_error, ends = compare_episodes(against_velocity, True, [0, 1, 2, 3], torch.float64)
    assert obs_error <= 1e-6
    for last, terminated, truncated in ends:
        assert terminated and not truncated and 30 < last < 499  # the goal, reward 0, well before truncation


def test_float64_random_episodes_are_truncated_at_500_like_gymnasium() -> None:
    obs_error, ends = compare_episodes(random_actions, False, [0, 1], torch.float64)
    assert obs_error <= 1e-6
    assert ends == [(499, False, True)] * 2


def random_states(n: int, seed: int) -> np.ndarray:
    """Angles over [-pi, pi] and speeds up to the bounds: RK4 steps wrap angles and hit the speed bounds."""
    rng = np.random.default_rng(seed)
    return np.stack(
        [
            rng.uniform(-math.pi, math.pi, n),
            rng.uniform(-math.pi, math.pi, n),
            rng.uniform(-4 * math.pi, 4 * math.pi, n),
            rng.uniform(-9 * math.pi, 9 * math.pi, n),
        ],
        axis=-1,
    )


def gym_one_step(states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """gymnasium's Acrobot step from each (state, action) row: next states, observations, rewards, terminated."""
    ref = gym.make("Acrobot-v1").unwrapped
    ref.reset(seed=0)
    out = [], [], [], []
    for state, action in zip(states, actions):
        ref.state = state.copy()
        obs, reward, terminated, truncated, _ = ref.step(int(action))
        assert not truncated
        for store, value in zip(out, (np.array(ref.state), obs, reward, terminated)):
            store.append(value)
    return tuple(np.stack(x) for x in out)


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, 1e-12), (torch.float32, 1e-3)])
def test_one_step_matches_gymnasium_across_wraps_bounds_and_goal(dtype: torch.dtype, atol: float) -> None:
    # float32: RK4 in float32 on speeds up to 9 pi differs by up to ~1.3e-5 relative (2.1e-4 at a speed
    # of 16.4, measured), so 1e-3 absolute
    n = 512
    states = random_states(n, seed=1)
    actions = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(2))
    env = Acrobot(num_envs=n, dtype=dtype)
    env.reset(seed=0)
    env.state = torch.as_tensor(states, dtype=dtype)
    ref_states, ref_obs, ref_reward, ref_terminated = gym_one_step(env.state.double().numpy(), actions.numpy())
    ours = env.dynamics(env.state, actions)
    td = env.step(TensorDict({"action": actions}, batch_size=[n]))

    # the sample covers every branch: both wraps, both speed bounds of both links, the goal and its miss
    moved = states[:, :2] + 0.2 * states[:, 2:]
    assert (moved > math.pi).any() and (moved < -math.pi).any()
    for j, bound in ((2, 4 * math.pi), (3, 9 * math.pi)):
        assert (ref_states[:, j] == bound).any() and (ref_states[:, j] == -bound).any()
    assert 0 < ref_terminated.sum() < n

    np.testing.assert_allclose(ours.double().numpy(), ref_states, rtol=0, atol=atol * 10)
    np.testing.assert_allclose(td["next", "observation"].numpy(), ref_obs, rtol=0, atol=atol)
    # a state within round-off of the goal line may flip in float32; float64 agrees everywhere
    agree = td["next", "terminated"].squeeze(-1).numpy() == ref_terminated
    assert agree.all() if dtype == torch.float64 else agree.mean() > 0.99
    np.testing.assert_array_equal(td["next", "reward"].squeeze(-1).numpy()[agree], ref_reward[agree])
    assert set(ref_reward.tolist()) == {-1.0, 0.0}


def test_reset_distribution_is_gymnasiums() -> None:
    env = Acrobot(num_envs=4096, dtype=torch.float64)
    td = env.reset(seed=0)
    state = env.state
    # every variable uniform in [-0.1, 0.1], stored as float32 values (gymnasium's .astype(np.float32))
    assert state.abs().max() <= 0.1 and state.abs().max() > 0.099
    assert torch.equal(state, state.float().double())
    assert state.mean(0).abs().max() < 0.01
    torch.testing.assert_close(td["observation"][:, 0].double(), state[:, 0].cos(), atol=1e-7, rtol=0)
    torch.testing.assert_close(td["observation"][:, 5].double(), state[:, 3], atol=0, rtol=0)
    assert torch.equal(
        Acrobot(num_envs=8).reset(seed=3)["observation"], Acrobot(num_envs=8).reset(seed=3)["observation"]
    )
    assert not torch.equal(
        Acrobot(num_envs=8).reset(seed=3)["observation"], Acrobot(num_envs=8).reset(seed=4)["observation"]
    )


def test_goal_terminates_with_reward_zero_and_auto_resets() -> None:
    env = Acrobot(num_envs=3)
    env.reset(seed=0)
    # row 0 is already swung up (th1 = pi: the tip at height 2), rows 1-2 hang down
    env.state = torch.tensor([[math.pi, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.05, 0.0, 0.0, 0.0]])
    env.elapsed_steps = torch.tensor([10, 20, 499])
    td, root = env.step_and_reset(TensorDict({"action": torch.tensor([1, 1, 1])}, batch_size=[3]))
    assert td["next", "terminated"].squeeze(-1).tolist() == [True, False, False]
    assert td["next", "truncated"].squeeze(-1).tolist() == [False, False, True]
    assert td["next", "reward"].squeeze(-1).tolist() == [0.0, -1.0, -1.0]
    assert env.elapsed_steps.tolist() == [0, 21, 0]
    # the terminal observation is the true one (th1 near pi: cos near -1); the root restarts near hanging
    assert td["next", "observation"][0, 0] < -0.99
    assert (root["observation"][[0, 2], 0] > 0.99).all() and (env.state[[0, 2]].abs() <= 0.1).all()
    assert torch.equal(root["observation"][1], td["next", "observation"][1])


def test_default_truncation_and_registration() -> None:
    env = make_env("Acrobot", num_envs=2, dtype=torch.float64)
    assert isinstance(env, Acrobot) and env.max_episode_steps == 500 and env.dtype == torch.float64
    assert env.single_action_space == gym.spaces.Discrete(3)
    ref_space = gym.make("Acrobot-v1").observation_space
    assert env.single_observation_space == ref_space


def test_bad_action_raises_naming_the_env_and_leaves_state_unchanged() -> None:
    env = Acrobot(num_envs=2)
    env.reset(seed=0)
    state = env.state.clone()
    with pytest.raises(ValueError, match=r"Acrobot: 'action' holds 3 at index \[1\], outside the action space"):
        env.step_tensors(torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"Acrobot: max_episode_steps must be >= 1, got 0"):
        Acrobot(max_episode_steps=0)
    assert torch.equal(env.state, state)


def test_state_dict_round_trip_continues_identically() -> None:
    env = Acrobot(num_envs=8, max_episode_steps=20)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        env.step_tensors(torch.randint(0, 3, (8,), generator=gen))
    copy = Acrobot(num_envs=8, max_episode_steps=20)
    copy.load_state_dict(env.state_dict())
    for _ in range(40):  # past the truncation, so the auto-resets draw from the restored generator
        action = torch.randint(0, 3, (8,), generator=gen)
        a, b = env.step_tensors(action), copy.step_tensors(action.clone())
        assert torch.equal(a.root["observation"], b.root["observation"])
        assert torch.equal(a.next["done"], b.next["done"])
