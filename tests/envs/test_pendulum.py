"""rl4py.envs.Pendulum against gymnasium's Pendulum-v1 (the reference implementation), step for step."""

from __future__ import annotations

import math
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py.envs import Pendulum

Controller = Callable[[np.ndarray], float]


def random_torques(seed: int) -> Controller:
    """Open loop: uniform torques in [-3, 3], so a third of them are clipped to [-2, 2] by both envs."""
    rng = np.random.default_rng(100 + seed)
    return lambda obs: float(rng.uniform(-3.0, 3.0))


def swing_up(obs: np.ndarray) -> float:
    """Closed loop: pump energy until near the top, then balance there (the unstable equilibrium).

    Continuous in the observation, so two copies reading observations equal to round-off act alike.
    """
    cos, sin, thdot = (float(x) for x in obs)
    if cos > 0.8:
        torque = -(8.0 * math.atan2(sin, cos) + 1.5 * thdot)
    else:
        energy = 0.5 * thdot**2 + 15.0 * (cos - 1.0)  # 0 at rest at the top (3 g / 2 l = 15)
        torque = -3.0 * energy * thdot
    return float(np.clip(torque, -2.5, 2.5))


def compare_episodes(
    controllers: list[Controller], closed_loop: bool, dtype: torch.dtype, action_dtype: type
) -> tuple[float, float, int]:
    """Runs one Pendulum-v1 episode per controller (seeds 0..n-1) and our env from the same initial states.

    Open loop, our env replays gymnasium's torques; closed loop, each side's controller reads its own
    observations. Checks truncation and termination step by step; returns the largest observation and
    reward differences and the number of steps gymnasium spent near the top (cos > 0.99).
    """
    n = len(controllers)
    refs = [gym.make("Pendulum-v1") for _ in range(n)]
    ref_obs = [ref.reset(seed=seed)[0] for seed, ref in enumerate(refs)]
    env = Pendulum(num_envs=n, dtype=dtype)
    env.reset(seed=0)
    env.state = torch.as_tensor(np.stack([ref.unwrapped.state for ref in refs]), dtype=dtype)
    env.elapsed_steps = torch.zeros(n, dtype=torch.int64)
    our_obs = env.state.new_tensor(np.stack(ref_obs)).to(torch.float32)
    ours_controllers = [swing_up] * n if closed_loop else None
    obs_error = reward_error = 0.0
    near_top = 0
    for t in range(200):
        torques = [control(obs) for control, obs in zip(controllers, ref_obs)]
        ours = [control(obs) for control, obs in zip(ours_controllers, our_obs.numpy())] if closed_loop else torques
        results = [ref.step(np.array([u], dtype=action_dtype)) for ref, u in zip(refs, torques)]
        td = env.step(TensorDict({"action": torch.tensor(ours, dtype=torch.float32).unsqueeze(-1)}, batch_size=[n]))
        ref_obs = [r[0] for r in results]
        our_obs = td["next", "observation"]
        assert our_obs.dtype == torch.float32
        obs_error = max(obs_error, float(np.abs(our_obs.numpy() - np.stack(ref_obs)).max()))
        reward = td["next", "reward"].squeeze(-1).numpy()
        reward_error = max(reward_error, float(np.abs(reward - np.array([r[1] for r in results])).max()))
        # Pendulum never terminates; both truncate after exactly 200 steps
        assert not any(r[2] for r in results) and not td["next", "terminated"].any()
        assert td["next", "truncated"].squeeze(-1).tolist() == [r[3] for r in results] == [t == 199] * n
        assert torch.equal(td["next", "done"], td["next", "truncated"])
        near_top += sum(obs[0] > 0.99 for obs in ref_obs)
    return obs_error, reward_error, near_top


@pytest.mark.parametrize("closed_loop", [False, True])
def test_float64_episodes_match_gymnasium_to_round_off(closed_loop: bool) -> None:
    # gymnasium stepped with float64 torques (the same values as our float32 actions) computes in
    # float64 throughout, as our float64 env does: observations agree to float32 round-off
    # (ulp(8) ~ 1e-6), rewards to the float32 rounding of costs up to ~16
    controllers = [swing_up] * 4 if closed_loop else [random_torques(seed) for seed in range(4)]
    obs_error, reward_error, near_top = compare_episodes(controllers, closed_loop, torch.float64, np.float64)
    assert obs_error <= 2e-6
    assert reward_error <= 1e-5
    if closed_loop:  # the episodes spend most of their time balanced at the unstable top
        assert near_top > 400


def test_float32_torques_match_gymnasium_like_its_users_step_it() -> None:
    # stepped with float32 actions (its action space's dtype), gymnasium under numpy >= 2 rounds the
    # torque term 3 u / (m l^2) to float32 before adding it to its float64 state; that one rounding
    # per step (<= 1.2e-8 in thdot) accumulates to ~4e-6 over 200 open-loop steps (measured)
    obs_error, reward_error, _ = compare_episodes(
        [random_torques(s) for s in range(4)], False, torch.float64, np.float32
    )
    assert obs_error <= 2e-5
    assert reward_error <= 1e-4
    obs_error, reward_error, _ = compare_episodes([swing_up] * 4, True, torch.float64, np.float32)
    assert obs_error <= 2e-5
    assert reward_error <= 1e-4


def test_default_float32_state_tracks_gymnasium_over_whole_episodes() -> None:
    # a float32 state rounds every step (~1e-7 relative): 200 steps stay within a few 1e-3 (measured
    # 4e-4 open loop, 1.3e-3 closed loop around the unstable top)
    for controllers, closed_loop in ([[random_torques(s) for s in range(4)], False], [[swing_up] * 4, True]):
        obs_error, reward_error, _ = compare_episodes(controllers, closed_loop, torch.float32, np.float32)
        assert obs_error <= 1e-2
        assert reward_error <= 1e-2


def test_one_step_matches_gymnasium_across_clipping_and_angle_wrapping() -> None:
    n = 1000
    rng = np.random.default_rng(0)
    # angles well beyond [-pi, pi] (the cost wraps them), speeds up to the +-8 clip, torques beyond +-2
    states = np.stack([rng.uniform(-3 * np.pi, 3 * np.pi, n), rng.uniform(-8.0, 8.0, n)], axis=-1)
    torques = rng.uniform(-3.0, 3.0, n).astype(np.float32)
    ref = gym.make("Pendulum-v1").unwrapped
    ref.reset(seed=0)
    expected_state, expected_reward, expected_obs = [], [], []
    for state, u in zip(states, torques):
        ref.state = state.copy()
        obs, reward, *_ = ref.step(np.array([u], dtype=np.float64))
        expected_state.append(np.array(ref.state))
        expected_reward.append(reward)
        expected_obs.append(obs)
    expected_state = np.stack(expected_state)
    assert (np.abs(expected_state[:, 1]) == 8.0).any()  # the speed clip is hit
    assert (np.abs(torques) > 2.0).mean() > 0.2  # and the torque clip

    env = Pendulum(num_envs=n, dtype=torch.float64)
    env.reset(seed=0)
    env.state = torch.as_tensor(states)
    env.elapsed_steps = torch.zeros(n, dtype=torch.int64)
    td = env.step(TensorDict({"action": torch.as_tensor(torques).unsqueeze(-1)}, batch_size=[n]))
    np.testing.assert_allclose(env.state.numpy(), expected_state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(td["next", "observation"].numpy(), np.stack(expected_obs), rtol=0, atol=1e-6)
    np.testing.assert_allclose(td["next", "reward"].squeeze(-1).numpy(), expected_reward, rtol=1e-6, atol=1e-6)
    # the stored action is never clipped: only the torque applied is
    assert torch.equal(td["action"].squeeze(-1), torch.as_tensor(torques))


def test_reset_distribution_and_auto_reset_after_truncation() -> None:
    n = 4096
    env = Pendulum(num_envs=n, dtype=torch.float64, max_episode_steps=3)
    td = env.reset(seed=0)
    th, thdot = env.state[:, 0], env.state[:, 1]
    # gymnasium's reset: th uniform in [-pi, pi], thdot uniform in [-1, 1]
    assert th.abs().max() <= math.pi and th.abs().max() > 0.99 * math.pi
    assert thdot.abs().max() <= 1.0 and thdot.abs().max() > 0.99
    assert abs(float(th.mean())) < 0.1 and abs(float(thdot.mean())) < 0.05
    torch.testing.assert_close(td["observation"][:, 0].double(), th.cos(), atol=1e-7, rtol=0)
    for step in range(3):
        td["action"] = torch.zeros(n, 1)
        td, root = env.step_and_reset(td)
        assert bool(td["next", "truncated"].all()) == (step == 2)
        td = root
    # the truncated step kept the true last observation; the root holds the new episode's first one
    assert torch.equal(env.elapsed_steps, torch.zeros(n, dtype=torch.int64))
    assert (env.state[:, 1].abs() <= 1.0).all()
    torch.testing.assert_close(root["observation"][:, 2].double(), env.state[:, 1], atol=1e-6, rtol=0)
