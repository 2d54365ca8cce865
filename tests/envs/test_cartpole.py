"""rl4py.envs.CartPole against gymnasium's CartPole-v1 (the reference implementation)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl4py.envs import CartPole

X_THRESHOLD = 2.4
THETA_THRESHOLD = 12 * 2 * math.pi / 360


def random_states(n: int, seed: int) -> np.ndarray:
    """States inside the thresholds; with x near the edges and theta up to 0.2 rad some steps terminate."""
    rng = np.random.default_rng(seed)
    return np.stack(
        [
            rng.uniform(-2.39, 2.39, n),
            rng.uniform(-2.0, 2.0, n),
            rng.uniform(-0.2, 0.2, n),
            rng.uniform(-2.0, 2.0, n),
        ],
        axis=-1,
    )


def gym_one_step(states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gymnasium's CartPole step from each (state, action) row."""
    ref = gym.make("CartPole-v1").unwrapped
    ref.reset(seed=0)
    obs, rewards, terminated = [], [], []
    for state, action in zip(states, actions):
        ref.state = np.array(state, dtype=np.float64)
        ref.steps_beyond_terminated = None
        o, r, te, tr, _ = ref.step(int(action))
        assert not tr
        obs.append(o)
        rewards.append(r)
        terminated.append(te)
    return np.stack(obs), np.array(rewards), np.array(terminated)


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_one_step_matches_gymnasium(dtype: torch.dtype, atol: float) -> None:
    n = 256
    env = CartPole(num_envs=n, dtype=dtype)
    env.reset(seed=0)
    env.state = torch.as_tensor(random_states(n, seed=1), dtype=dtype)
    env.elapsed_steps = torch.zeros(n, dtype=torch.int64)
    # the reference gets exactly the (possibly float32-rounded) state our env steps from
    states = env.state.to(torch.float64).numpy().copy()
    actions = torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(2))

    td = env.step(TensorDict({"action": actions}, batch_size=[n]))
    ref_obs, ref_reward, ref_terminated = gym_one_step(states, actions.numpy())

    # the sample covers both outcomes, including x-terminations and theta-terminations
    assert 0 < ref_terminated.sum() < n
    assert (np.abs(ref_obs[:, 0]) > X_THRESHOLD).any()
    assert (np.abs(ref_obs[:, 2]) > THETA_THRESHOLD).any()

    next_obs = td["next", "observation"]
    assert next_obs.dtype == torch.float32
    np.testing.assert_allclose(next_obs.numpy(), ref_obs, rtol=0, atol=atol)
    np.testing.assert_array_equal(td["next", "terminated"].squeeze(-1).numpy(), ref_terminated)
    np.testing.assert_array_equal(td["next", "reward"].squeeze(-1).numpy(), ref_reward)
    assert (ref_reward == 1.0).all()
    assert not td["next", "truncated"].any()
    assert torch.equal(td["next", "done"], td["next", "terminated"])


def test_float64_dynamics_match_gymnasium_state_to_round_off() -> None:
    n = 256
    env = CartPole(num_envs=n, dtype=torch.float64)
    states = random_states(n, seed=3)
    actions = torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(4))
    ours = env.dynamics(torch.as_tensor(states), actions).numpy()
    ref = gym.make("CartPole-v1").unwrapped
    ref.reset(seed=0)
    expected = []
    for state, action in zip(states, actions.tolist()):
        ref.state = state.copy()
        ref.steps_beyond_terminated = None
        ref.step(action)
        expected.append(np.array(ref.state))
    np.testing.assert_allclose(ours, np.stack(expected), rtol=0, atol=1e-12)


def angle_only(obs: np.ndarray) -> int:
    """Bang-bang on the angle: the pole falls after a few dozen steps (theta termination)."""
    return int(obs[2] > 0)


def drifting(obs: np.ndarray) -> int:
    """Balances the pole with a bias: the cart drifts off the track (x termination)."""
    return int(obs[2] + 0.5 * obs[3] > -0.05)


def balancing(obs: np.ndarray) -> int:
    """Balances the pole for the whole 500 steps (truncation)."""
    return int(obs[2] + 0.5 * obs[3] > 0)


def gym_episode(seed: int, controller) -> tuple[np.ndarray, list[int], np.ndarray, bool, bool]:
    """One full gymnasium CartPole-v1 episode (TimeLimit included): initial state, actions, obs, flags."""
    ref = gym.make("CartPole-v1")
    obs, _ = ref.reset(seed=seed)
    initial = np.array(ref.unwrapped.state, dtype=np.float64)
    actions, observations = [], []
    while True:
        action = controller(obs)
        obs, reward, terminated, truncated, _ = ref.step(action)
        assert reward == 1.0
        actions.append(action)
        observations.append(obs)
        if terminated or truncated:
            return initial, actions, np.stack(observations), terminated, truncated


def run_replay(episodes: list, env: CartPole) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    """Replays each episode's actions in one row of ``env``.

    Returns next observations, terminated and truncated ``[B, T]`` and the first done step of each row.
    """
    n = len(episodes)
    env.reset(seed=0)
    env.state = torch.as_tensor(np.stack([ep[0] for ep in episodes]))
    env.elapsed_steps = torch.zeros(n, dtype=torch.int64)
    horizon = max(len(ep[1]) for ep in episodes)
    first_done = [None] * n
    obs, terminated, truncated = [], [], []
    for t in range(horizon):
        action = torch.tensor([ep[1][t] if t < len(ep[1]) else 0 for ep in episodes])
        td = env.step(TensorDict({"action": action}, batch_size=[n]))
        obs.append(td["next", "observation"])
        terminated.append(td["next", "terminated"].squeeze(-1))
        truncated.append(td["next", "truncated"].squeeze(-1))
        for i in range(n):
            if first_done[i] is None and td["next", "done"][i, 0]:
                first_done[i] = t
    return torch.stack(obs, dim=1), torch.stack(terminated, dim=1), torch.stack(truncated, dim=1), first_done


@pytest.mark.parametrize("controller", [angle_only, drifting])
def test_terminating_trajectory_matches_gymnasium(controller) -> None:
    # the open-loop replay of gymnasium's actions is only trustworthy for a few hundred steps: the
    # upright pole is unstable, so round-off differences grow by about e^4 per simulated second
    seeds = [0, 1, 2, 3]
    episodes = [gym_episode(seed, controller) for seed in seeds]
    obs, terminated, truncated, first_done = run_replay(episodes, CartPole(num_envs=len(seeds), dtype=torch.float64))
    for i, (_, actions, ref_obs, ref_terminated, ref_truncated) in enumerate(episodes):
        assert ref_terminated and not ref_truncated
        length = len(actions)
        assert first_done[i] == length - 1, f"seed {seeds[i]}: episode ended at a different step"
        assert bool(terminated[i, length - 1])
        assert not truncated[i, :length].any()
        np.testing.assert_allclose(obs[i, :length].numpy(), ref_obs, rtol=0, atol=1e-5)
    final = torch.stack([obs[i, len(ep[1]) - 1] for i, ep in enumerate(episodes)]).double()
    if controller is drifting:  # the cart leaves the track, the pole stays up
        assert (final[:, 0].abs() > X_THRESHOLD).all()
        assert (final[:, 2].abs() <= THETA_THRESHOLD).all()
    else:  # the pole falls
        assert (final[:, 2].abs() > THETA_THRESHOLD).all()


def test_balanced_episode_is_truncated_at_500_like_gymnasium() -> None:
    # closed loop on both sides (each env's controller reads its own observation), so the unstable
    # open-loop divergence cannot end our episode early
    seeds = [0, 1, 2, 3]
    episodes = [gym_episode(seed, balancing) for seed in seeds]
    n = len(seeds)
    env = CartPole(num_envs=n, dtype=torch.float64)
    env.reset(seed=0)
    env.state = torch.as_tensor(np.stack([ep[0] for ep in episodes]))
    env.elapsed_steps = torch.zeros(n, dtype=torch.int64)
    obs = env.state.to(torch.float32)
    first_done = [None] * n
    for t in range(500):
        action = torch.tensor([balancing(o) for o in obs.numpy()])
        td = env.step(TensorDict({"action": action}, batch_size=[n]))
        obs = td["next", "observation"]
        if t < 200:  # the two closed loops take the same actions and states for the first 200 steps
            assert action.tolist() == [ep[1][t] for ep in episodes]
            np.testing.assert_allclose(obs.numpy(), np.stack([ep[2][t] for ep in episodes]), rtol=0, atol=1e-5)
        for i in range(n):
            if first_done[i] is None and td["next", "done"][i, 0]:
                first_done[i] = t
                assert not td["next", "terminated"][i, 0]
                assert td["next", "truncated"][i, 0]
    for _, actions, _, ref_terminated, ref_truncated in episodes:
        assert len(actions) == 500
        assert ref_truncated and not ref_terminated
    assert first_done == [499] * n


def test_auto_reset_returns_true_terminal_state_and_fresh_root() -> None:
    n = 64
    env = CartPole(num_envs=n)
    td = env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    elapsed = torch.zeros(n, dtype=torch.int64)
    terminated_seen = 0
    for _ in range(150):
        td["action"] = torch.randint(0, 2, (n,), generator=gen)
        td, root = env.step_and_reset(td)
        next_obs = td["next", "observation"].double()
        terminated = td["next", "terminated"].squeeze(-1)
        done = td["next", "done"].squeeze(-1)
        outside = (next_obs[:, 0].abs() > X_THRESHOLD) | (next_obs[:, 2].abs() > THETA_THRESHOLD)
        assert torch.equal(outside, terminated)
        # finished rows restart from the reset distribution, the others continue from the true next state
        assert (root["observation"][done].abs() <= 0.05).all()
        assert torch.equal(root["observation"][~done], td["next", "observation"][~done])
        elapsed = torch.where(done, 0, elapsed + 1)
        assert torch.equal(env.elapsed_steps, elapsed)
        terminated_seen += int(terminated.sum())
        td = root
    assert terminated_seen > 50


def test_truncation_after_max_episode_steps_and_counter_restarts() -> None:
    env = CartPole(num_envs=3, max_episode_steps=5)
    td = env.reset(seed=0)
    truncated_at = []
    for t in range(10):
        # alternating pushes keep the pole up for these few steps
        td["action"] = torch.full((3,), t % 2)
        td, root = env.step_and_reset(td)
        assert not td["next", "terminated"].any()
        if td["next", "truncated"].all():
            truncated_at.append(t)
            assert td["next", "done"].all()
            assert (root["observation"].abs() <= 0.05).all()
            assert (env.elapsed_steps == 0).all()
        else:
            assert not td["next", "truncated"].any()
            assert not td["next", "done"].any()
        td = root
    assert truncated_at == [4, 9]


def test_default_truncation_at_500_steps() -> None:
    env = CartPole(num_envs=2)
    assert env.max_episode_steps == 500
    td = env.reset(seed=0)
    env.elapsed_steps = torch.tensor([499, 498])
    td["action"] = torch.tensor([0, 1])
    td, root = env.step_and_reset(td)
    assert td["next", "truncated"].squeeze(-1).tolist() == [True, False]
    assert td["next", "done"].squeeze(-1).tolist() == [True, False]
    assert not td["next", "terminated"].any()
    assert env.elapsed_steps.tolist() == [0, 499]


def test_same_seed_same_reset_different_seeds_differ() -> None:
    a = CartPole(num_envs=16).reset(seed=3)["observation"]
    b = CartPole(num_envs=16).reset(seed=3)["observation"]
    c = CartPole(num_envs=16).reset(seed=4)["observation"]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert (a.abs() <= 0.05).all()
    # re-seeding the same env replays the same stream
    env = CartPole(num_envs=16)
    first = env.reset(seed=3)["observation"]
    second = env.reset(seed=3)["observation"]
    assert torch.equal(first, second)
    assert torch.equal(first, a)


def test_unseeded_reset_follows_torch_global_seed() -> None:
    def two_resets() -> tuple[torch.Tensor, torch.Tensor]:
        env = CartPole(num_envs=8)
        return env.reset()["observation"], env.reset()["observation"]

    torch.manual_seed(11)
    a1, a2 = two_resets()
    torch.manual_seed(11)
    b1, b2 = two_resets()
    torch.manual_seed(12)
    c1, _ = two_resets()
    assert torch.equal(a1, b1)
    assert torch.equal(a2, b2)
    assert not torch.equal(a1, a2)  # an unseeded reset continues the stream
    assert not torch.equal(a1, c1)


@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (torch.zeros(3, dtype=torch.int64), ValueError, r"'action' has shape \(3,\), expected \(4,\)"),
        (torch.zeros(4, 1, dtype=torch.int64), ValueError, r"'action' has shape \(4, 1\), expected \(4,\)"),
        (torch.zeros(4), TypeError, r"'action' has dtype torch.float32, expected an integer dtype"),
        (torch.zeros(4, dtype=torch.bool), TypeError, r"'action' has dtype torch.bool, expected an integer dtype"),
        (torch.tensor([0, 2, 1, 0]), ValueError, r"'action' holds 2 at index \[1\], outside the action space"),
        (torch.tensor([0, 1, 1, -1]), ValueError, r"'action' holds -1 at index \[3\], outside the action space"),
        ([0, 1, 1, 0], TypeError, r"'action' must be a torch.Tensor, got list"),
        (np.zeros(4, dtype=np.int64), TypeError, r"'action' must be a torch.Tensor, got ndarray"),
    ],
)
def test_bad_action_raises_and_leaves_state_unchanged(action, error: type[Exception], match: str) -> None:
    env = CartPole(num_envs=4)
    env.reset(seed=0)
    state, elapsed = env.state.clone(), env.elapsed_steps.clone()
    with pytest.raises(error, match=match):
        env.step_tensors(action)
    assert torch.equal(env.state, state)
    assert torch.equal(env.elapsed_steps, elapsed)


def test_bad_action_through_tensordict_step() -> None:
    env = CartPole(num_envs=2)
    td = env.reset(seed=0)
    td["action"] = torch.tensor([1, 5])
    with pytest.raises(ValueError, match=r"CartPole: 'action' holds 5 at index \[1\], outside the action space"):
        env.step(td)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"num_envs": 0}, r"num_envs must be a positive int, got 0"), ({"max_episode_steps": 0}, r"max_episode_steps")],
)
def test_bad_constructor_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CartPole(**kwargs)


def test_partial_observation_is_position_and_angle_of_full_state() -> None:
    full = CartPole(num_envs=32)
    partial = CartPole(num_envs=32, partial_observation=True)
    assert partial.single_observation_space.shape == (2,)
    assert partial.observation_space.shape == (32, 2)
    np.testing.assert_array_equal(partial.single_observation_space.high, full.single_observation_space.high[[0, 2]])
    td_full, td_partial = full.reset(seed=5), partial.reset(seed=5)
    assert td_partial["observation"].shape == (32, 2)
    assert torch.equal(td_partial["observation"], td_full["observation"][:, [0, 2]])
    assert torch.equal(td_partial["observation"], partial.state[:, [0, 2]])
    gen = torch.Generator().manual_seed(0)
    done_seen = False
    for _ in range(40):
        action = torch.randint(0, 2, (32,), generator=gen)
        td_full["action"], td_partial["action"] = action, action.clone()
        td_full, root_full = full.step_and_reset(td_full)
        td_partial, root_partial = partial.step_and_reset(td_partial)
        assert torch.equal(td_partial["next", "observation"], td_full["next", "observation"][:, [0, 2]])
        assert torch.equal(root_partial["observation"], root_full["observation"][:, [0, 2]])
        assert torch.equal(td_partial["next", "done"], td_full["next", "done"])
        done_seen |= bool(td_full["next", "done"].any())
        td_full, td_partial = root_full, root_partial
    assert done_seen


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_state_dict_round_trip_continues_identically(dtype: torch.dtype) -> None:
    env = CartPole(num_envs=16, dtype=dtype)
    td = env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        td["action"] = torch.randint(0, 2, (16,), generator=gen)
        td = env.step_and_reset(td)[1]
    state = env.state_dict()
    copy = CartPole(num_envs=16, dtype=dtype)
    copy.load_state_dict(state)
    assert copy.state.dtype == dtype
    root_copy = TensorDict({"observation": copy.state.to(torch.float32)}, batch_size=[16])
    assert torch.equal(root_copy["observation"], td["observation"])
    done_seen = False
    for _ in range(60):  # long enough for auto-resets, which draw from the restored generator
        action = torch.randint(0, 2, (16,), generator=gen)
        a, root_a = env.step_and_reset(TensorDict({"action": action}, batch_size=[16]))
        b, root_b = copy.step_and_reset(TensorDict({"action": action.clone()}, batch_size=[16]))
        assert (a == b).all()
        assert torch.equal(root_a["observation"], root_b["observation"])
        done_seen |= bool(a["next", "done"].any())
    assert done_seen
    assert torch.equal(env.elapsed_steps, copy.elapsed_steps)


def test_step_output_layout() -> None:
    env = CartPole(num_envs=5)
    td = env.reset(seed=0)
    assert td.batch_size == (5,)
    assert td["observation"].shape == (5, 4)
    assert td["observation"].dtype == torch.float32
    td["action"] = env.rand_action(torch.Generator().manual_seed(0))
    assert td["action"].dtype == torch.int64
    assert td["action"].shape == (5,)
    td = env.step(td)
    for key in ("terminated", "truncated", "done"):
        assert td["next", key].shape == (5, 1)
        assert td["next", key].dtype == torch.bool
    assert td["next", "reward"].shape == (5, 1)
    assert td["next", "reward"].dtype == torch.float32
    assert td["next", "observation"].shape == (5, 4)


def test_uint8_actions_index_forces_like_int64():
    # a uint8 tensor used as an index is a boolean mask in torch: the env must convert it
    results = []
    for dtype in (torch.int64, torch.uint8):
        env = CartPole(num_envs=3)
        env.reset(seed=0)
        out = env.step_tensors(torch.tensor([1, 1, 0], dtype=dtype))
        results.append(out.next["observation"])
    torch.testing.assert_close(results[0], results[1])


def test_cpu_auto_reset_draws_fresh_states_only_for_the_sub_envs_that_end() -> None:
    env = CartPole(num_envs=4)
    env.reset(seed=0)
    before = env._rng.generator.get_state()
    out = env.step_tensors(torch.tensor([0, 1, 0, 1]))  # no episode ends at the first step
    assert not out.next["done"].any()
    assert torch.equal(env._rng.generator.get_state(), before)  # nothing drawn
    env.state = torch.tensor([[2.39, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.2, 1.0], [0.0] * 4])
    out = env.step_tensors(torch.tensor([1, 1, 1, 1]))
    ended = out.next["done"].squeeze(-1)
    assert ended.tolist() == [True, False, True, False]
    root = out.root["observation"]
    assert (root[ended].abs() <= 0.05).all()  # fresh states for the two that ended
    assert torch.equal(root[~ended], out.next["observation"][~ended])  # the others continue
    expected = torch.Generator().set_state(before)
    torch.testing.assert_close(root[ended].t(), torch.empty(4, 2).uniform_(-0.05, 0.05, generator=expected))
