"""rl4py.envs.MountainCar / MountainCarContinuous against gymnasium's MountainCar-v0 /
MountainCarContinuous-v0 (the reference implementations), step for step over whole episodes."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py.envs import MountainCar, MountainCarContinuous, make_env

Controller = Callable[[np.ndarray, np.random.Generator], object]


def pump(obs: np.ndarray, rng: np.random.Generator) -> int:
    """Closed loop: push along the velocity; reaches the goal in ~115-125 steps."""
    return 2 if obs[1] >= 0 else 0


def random_push(obs: np.ndarray, rng: np.random.Generator) -> int:
    """Open loop: uniform pushes; never reaches the goal, truncated at 200 steps."""
    return int(rng.integers(0, 3))


def pump_clipped(obs: np.ndarray, rng: np.random.Generator) -> list[float]:
    """Closed loop with forces of magnitude 1.3: clipped to 1 in the dynamics, not in the reward."""
    return [1.3 if obs[1] >= 0 else -1.3]


def pump_weak(obs: np.ndarray, rng: np.random.Generator) -> list[float]:
    """Closed loop with forces of 0.6 (unclipped); reaches the goal in ~120 steps."""
    return [0.6 if obs[1] >= 0 else -0.6]


def random_force(obs: np.ndarray, rng: np.random.Generator) -> list[float]:
    """Open loop: forces uniform in [-1.5, 1.5]; truncated at 999 steps."""
    return [float(rng.uniform(-1.5, 1.5))]


def compare_episodes(
    env_id: str, env, controller: Controller, closed_loop: bool, seeds: list[int]
) -> tuple[float, float, list[tuple[int, bool, bool]]]:
    """One gymnasium episode per seed and one row of ``env`` each, started from gymnasium's reset states.

    Flags must be equal at every step. Returns the largest observation and (float32) reward differences and,
    per seed, ``(last step, terminated, truncated)``.
    """
    n = len(seeds)
    continuous = isinstance(env, MountainCarContinuous)
    refs = [gym.make(env_id) for _ in seeds]
    ref_obs = [ref.reset(seed=seed)[0] for ref, seed in zip(refs, seeds)]
    env.reset(seed=0)
    # our state from gymnasium's reset (float64 positions, rounded to the env's dtype)
    env.state = torch.as_tensor(np.stack([np.asarray(r.unwrapped.state, np.float64) for r in refs]), dtype=env.dtype)
    ours = env.state.to(torch.float32)
    np.testing.assert_array_equal(ours.numpy(), np.stack(ref_obs))
    rngs = [np.random.default_rng(100 + s) for s in seeds]
    ends: list[tuple[int, bool, bool] | None] = [None] * n
    obs_error = reward_error = 0.0
    for t in range(env.max_episode_steps):
        ref_actions = [controller(o, r) for o, r in zip(ref_obs, rngs)]
        actions = [controller(o, None) for o in ours.numpy()] if closed_loop else ref_actions
        action = torch.tensor(actions, dtype=torch.float32) if continuous else torch.tensor(actions)
        td = env.step(TensorDict({"action": action}, batch_size=[n]))
        ours = td["next", "observation"]
        for i, ref in enumerate(refs):
            if ends[i] is not None:
                continue
            # gymnasium's users step the continuous car with float32 arrays (its action space's dtype)
            step_action = np.array(ref_actions[i], dtype=np.float32) if continuous else ref_actions[i]
            obs, reward, terminated, truncated, _ = ref.step(step_action)
            ref_obs[i] = obs
            assert closed_loop or actions[i] == ref_actions[i]
            obs_error = max(obs_error, float(np.abs(ours[i].numpy() - obs).max()))
            # our rewards are float32: gymnasium's float64 reward rounded
            reward_error = max(reward_error, abs(td["next", "reward"][i, 0].item() - float(np.float32(reward))))
            assert bool(td["next", "terminated"][i, 0]) == terminated, f"seed {seeds[i]}, step {t}"
            assert bool(td["next", "truncated"][i, 0]) == truncated, f"seed {seeds[i]}, step {t}"
            assert bool(td["next", "done"][i, 0]) == (terminated or truncated)
            if terminated or truncated:
                ends[i] = (t, terminated, truncated)
    return obs_error, reward_error, ends


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, 0.0), (torch.float32, 1e-6)])
def test_discrete_episodes_match_gymnasium(dtype: torch.dtype, atol: float) -> None:
    # float64: gymnasium's operations in gymnasium's order: bitwise equal observations (measured);
    # float32: a float32 state stays within a few ulp (measured 2.4e-7) over the 200 steps
    seeds = [0, 1, 2, 3]
    obs_error, reward_error, ends = compare_episodes("MountainCar-v0", MountainCar(4, dtype=dtype), pump, True, seeds)
    assert obs_error <= atol and reward_error == 0.0
    assert all(terminated and not truncated and 100 < last < 199 for last, terminated, truncated in ends)
    obs_error, reward_error, ends = compare_episodes(
        "MountainCar-v0", MountainCar(4, dtype=dtype), random_push, False, seeds
    )
    assert obs_error <= atol and reward_error == 0.0
    assert ends == [(199, False, True)] * 4


@pytest.mark.parametrize(
    ("controller", "closed_loop", "seeds"),
    [(pump_clipped, True, [0, 1, 2, 3]), (pump_weak, True, [0, 1, 2, 3]), (random_force, False, [0, 1])],
)
def test_continuous_episodes_match_gymnasium_bit_for_bit(controller: Controller, closed_loop: bool, seeds) -> None:
    # gymnasium computes in float64 at an episode's first step and in float32 after, with a clipped force
    # as a Python float; the env rounds where numpy does, so observations and rewards are equal (measured
    # 0.0). Computing every step in float32 instead drifts to 5e-5 over 999 open-loop steps.
    obs_error, reward_error, ends = compare_episodes(
        "MountainCarContinuous-v0", MountainCarContinuous(len(seeds)), controller, closed_loop, seeds
    )
    assert obs_error == 0.0 and reward_error == 0.0
    if controller is random_force:  # a third of the forces are clipped; the car never reaches the goal
        assert ends == [(998, False, True)] * len(seeds)
    else:
        assert all(terminated and not truncated and 90 < last < 200 for last, terminated, truncated in ends)


def test_discrete_one_step_matches_gymnasium_at_walls_and_goal() -> None:
    n = 600
    rng = np.random.default_rng(0)
    states = np.stack([rng.uniform(-1.2, 0.6, n), rng.uniform(-0.07, 0.07, n)], axis=-1)
    states[:100, 0] = -1.2 + rng.uniform(0, 0.01, 100)  # next to the left wall
    states[100:200, 0] = 0.6 - rng.uniform(0, 0.01, 100)  # next to the right edge
    actions = rng.integers(0, 3, n)
    ref = gym.make("MountainCar-v0").unwrapped
    ref.reset(seed=0)
    expected, expected_terminated = [], []
    for state, action in zip(states, actions):
        ref.state = state.copy()
        _, reward, terminated, _, _ = ref.step(int(action))
        assert reward == -1.0
        expected.append(np.array(ref.state, dtype=np.float64))
        expected_terminated.append(terminated)
    expected = np.stack(expected)
    # the sample covers the wall stop (velocity zeroed), the right edge clip, both speed clips and the goal
    assert ((expected[:, 0] == -1.2) & (expected[:, 1] == 0)).any()
    assert (expected[:, 0] == 0.6).any()
    assert (np.abs(expected[:, 1]) == 0.07).any()
    assert 0 < sum(expected_terminated) < n
    env = MountainCar(num_envs=n, dtype=torch.float64)
    env.reset(seed=0)
    env.state = torch.as_tensor(states)
    td = env.step(TensorDict({"action": torch.as_tensor(actions)}, batch_size=[n]))
    np.testing.assert_array_equal(env.dynamics(torch.as_tensor(states), torch.as_tensor(actions)).numpy(), expected)
    np.testing.assert_array_equal(td["next", "terminated"].squeeze(-1).numpy(), expected_terminated)
    assert (td["next", "reward"] == -1.0).all()


def test_continuous_reward_uses_the_unclipped_force_and_the_stored_action_is_kept() -> None:
    env = MountainCarContinuous(num_envs=3)
    env.reset(seed=0)
    env.state = torch.tensor([[0.449, 0.07], [-0.5, 0.0], [-0.5, 0.0]], dtype=torch.float64)
    action = torch.tensor([[0.0], [2.0], [1.0]])
    td = env.step(TensorDict({"action": action.clone()}, batch_size=[3]))
    # row 0 reaches the goal: +100; rows 1 and 2 push with the same (clipped) force, paying 0.1 a^2 unclipped
    assert td["next", "terminated"].squeeze(-1).tolist() == [True, False, False]
    torch.testing.assert_close(td["next", "reward"].squeeze(-1), torch.tensor([100.0, -0.4, -0.1]))
    assert torch.equal(td["next", "observation"][1], td["next", "observation"][2])
    assert torch.equal(td["action"], action)


@pytest.mark.parametrize("cls", [MountainCar, MountainCarContinuous])
def test_reset_distribution_and_seeding(cls: type) -> None:
    env = cls(num_envs=4096)
    obs = env.reset(seed=0)["observation"]
    # gymnasium's reset: position uniform in [-0.6, -0.4], velocity 0
    assert obs[:, 0].min() >= -0.6 and obs[:, 0].max() <= -0.4
    assert obs[:, 0].min() < -0.599 and obs[:, 0].max() > -0.401
    assert abs(float(obs[:, 0].mean()) + 0.5) < 0.01
    assert (obs[:, 1] == 0).all()
    assert torch.equal(cls(num_envs=8).reset(seed=5)["observation"], cls(num_envs=8).reset(seed=5)["observation"])
    assert not torch.equal(cls(num_envs=8).reset(seed=5)["observation"], cls(num_envs=8).reset(seed=6)["observation"])


@pytest.mark.parametrize(
    ("name", "cls", "gym_id", "horizon"),
    [
        ("MountainCar", MountainCar, "MountainCar-v0", 200),
        ("MountainCarContinuous", MountainCarContinuous, "MountainCarContinuous-v0", 999),
    ],
)
def test_registration_spaces_and_truncation_auto_reset(name: str, cls: type, gym_id: str, horizon: int) -> None:
    env = make_env(name, num_envs=2)
    assert isinstance(env, cls) and env.max_episode_steps == horizon
    ref = gym.make(gym_id)
    assert env.single_observation_space == ref.observation_space
    assert env.single_action_space == ref.action_space
    td = env.reset(seed=0)
    env.elapsed_steps = torch.tensor([horizon - 1, 0])
    td["action"] = env.rand_action(torch.Generator().manual_seed(0))
    td, root = env.step_and_reset(td)
    assert td["next", "truncated"].squeeze(-1).tolist() == [True, False]
    assert env.elapsed_steps.tolist() == [0, 1]
    assert root["observation"][0, 1] == 0 and -0.6 <= root["observation"][0, 0] <= -0.4  # a fresh episode
    assert torch.equal(root["observation"][1], td["next", "observation"][1])


@pytest.mark.parametrize("cls", [MountainCar, MountainCarContinuous])
def test_state_dict_round_trip_continues_identically(cls: type) -> None:
    env = cls(num_envs=8, max_episode_steps=7)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        env.step_tensors(env.rand_action(gen))
    copy = cls(num_envs=8, max_episode_steps=7)
    copy.load_state_dict(env.state_dict())
    for _ in range(15):  # past the truncation: the auto-resets draw from the restored generator
        action = env.rand_action(gen)
        a, b = env.step_tensors(action), copy.step_tensors(action.clone())
        assert torch.equal(a.root["observation"], b.root["observation"])
        assert torch.equal(a.next["reward"], b.next["reward"])


def test_bad_actions_raise_naming_the_env() -> None:
    with pytest.raises(ValueError, match=r"MountainCar: 'action' holds 3 at index \[0\], outside the action space"):
        MountainCar(num_envs=1).step_tensors(torch.tensor([3]))
    with pytest.raises(ValueError, match=r"MountainCarContinuous: 'action' has shape \(2,\), expected \(2, 1\)"):
        MountainCarContinuous(num_envs=2).step_tensors(torch.zeros(2))
    with pytest.raises(ValueError, match=r"MountainCarContinuous: 'action' holds a non-finite value nan"):
        MountainCarContinuous(num_envs=2).step_tensors(torch.tensor([[0.0], [float("nan")]]))
    with pytest.raises(ValueError, match=r"MountainCar: max_episode_steps must be >= 1, got 0"):
        MountainCar(max_episode_steps=0)
