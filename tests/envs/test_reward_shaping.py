"""PotentialShaping and CountBonus against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from rl4py.envs import EXTRINSIC_REWARD, CartPole, CountBonus, MountainCar, PotentialShaping


def _phi(obs: torch.Tensor) -> torch.Tensor:
    return 3.0 * obs[:, 0] - obs[:, 2] ** 2


def test_potential_shaping_adds_gamma_phi_next_minus_phi():
    gamma = 0.9
    plain, shaped = CartPole(num_envs=3), PotentialShaping(CartPole(num_envs=3), _phi, gamma=gamma)
    root = plain.reset_tensors(seed=4)["observation"]
    assert torch.equal(shaped.reset_tensors(seed=4)["observation"], root)
    terminated_seen = 0
    for _ in range(40):  # constant pushes: every pole falls, so terminations and auto-resets happen
        action = torch.ones(3, dtype=torch.int64)
        expected, out = plain.step_tensors(action), shaped.step_tensors(action)
        phi_next = _phi(expected.next["observation"]).unsqueeze(-1)
        phi_next = torch.where(expected.next["terminated"], torch.zeros_like(phi_next), phi_next)
        want = expected.next["reward"] + gamma * phi_next - _phi(root).unsqueeze(-1)
        torch.testing.assert_close(out.next["reward"], want)
        torch.testing.assert_close(out.next[EXTRINSIC_REWARD], expected.next["reward"])
        terminated_seen += int(expected.next["terminated"].sum())
        root = expected.root["observation"]
    assert terminated_seen >= 3


def test_potential_shaping_telescopes_over_a_terminated_episode():
    env = PotentialShaping(CartPole(num_envs=1), _phi, gamma=1.0)
    phi_0 = _phi(env.reset_tensors(seed=1)["observation"]).item()
    shaping = 0.0
    while True:
        out = env.step_tensors(torch.zeros(1, dtype=torch.int64))
        shaping += (out.next["reward"] - out.next[EXTRINSIC_REWARD]).item()
        if out.next["done"].item():
            assert out.next["terminated"].item()
            break
    assert shaping == pytest.approx(-phi_0, abs=1e-4)


def test_potential_shaping_checkpoint_continues_exactly():
    env = PotentialShaping(CartPole(num_envs=2), _phi, gamma=0.99)
    env.reset_tensors(seed=0)
    for _ in range(5):
        env.step_tensors(torch.ones(2, dtype=torch.int64))
    state = env.state_dict()
    twin = PotentialShaping(CartPole(num_envs=2), _phi, gamma=0.99)
    twin.load_state_dict(state)
    for _ in range(5):
        a = torch.zeros(2, dtype=torch.int64)
        assert torch.equal(env.step_tensors(a).next["reward"], twin.step_tensors(a).next["reward"])


def test_potential_shaping_rejects_bad_input():
    with pytest.raises(ValueError, match="gamma must be in"):
        PotentialShaping(CartPole(num_envs=2), _phi, gamma=1.5)
    with pytest.raises(TypeError, match="potential must be callable"):
        PotentialShaping(CartPole(num_envs=2), 3.0, gamma=0.9)
    env = PotentialShaping(CartPole(num_envs=2), lambda obs: obs, gamma=0.9)  # [B, 4], not [B]
    with pytest.raises(ValueError, match=r"expected \(2,\), one value per sub-env"):
        env.reset_tensors(seed=0)


def test_count_bonus_is_coeff_over_sqrt_visits():
    resolution = torch.tensor([0.05, 0.005], dtype=torch.float64)
    plain = MountainCar(num_envs=4)
    env = CountBonus(MountainCar(num_envs=4), resolution=resolution.tolist(), coeff=0.5)
    plain.reset_tensors(seed=2)
    env.reset_tensors(seed=2)
    counts: dict[tuple[int, ...], int] = {}
    gen = torch.Generator().manual_seed(0)
    for _ in range(60):
        action = torch.randint(3, (4,), generator=gen)
        expected, out = plain.step_tensors(action), env.step_tensors(action)
        cells = torch.floor(expected.next["observation"].double() / resolution).long().tolist()
        for cell in cells:
            counts[tuple(cell)] = counts.get(tuple(cell), 0) + 1
        bonus = torch.tensor([[0.5 / math.sqrt(counts[tuple(cell)])] for cell in cells])
        torch.testing.assert_close(out.next["reward"] - expected.next["reward"], bonus)
    assert max(counts.values()) > 1 and len(counts) > 4  # revisits and new cells both happened


def test_count_bonus_checkpoint_keeps_counts():
    env = CountBonus(MountainCar(num_envs=2), resolution=0.1, coeff=1.0)
    env.reset_tensors(seed=0)
    for _ in range(10):
        env.step_tensors(torch.ones(2, dtype=torch.int64))
    twin = CountBonus(MountainCar(num_envs=2), resolution=0.1, coeff=1.0)
    twin.load_state_dict(env.state_dict())
    a = torch.full((2,), 2, dtype=torch.int64)
    assert torch.equal(env.step_tensors(a).next["reward"], twin.step_tensors(a).next["reward"])


def test_count_bonus_rejects_bad_input():
    with pytest.raises(ValueError, match="resolution must be > 0"):
        CountBonus(MountainCar(num_envs=2), resolution=[0.1, 0.0])
    with pytest.raises(ValueError, match="coeff must be >= 0"):
        CountBonus(MountainCar(num_envs=2), resolution=0.1, coeff=-1.0)
    with pytest.raises(ValueError, match="expected 1 or 2"):
        CountBonus(MountainCar(num_envs=2), resolution=[0.1, 0.1, 0.1])
