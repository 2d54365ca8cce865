from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from tensordict import TensorDict
from torch import nn

from rl4py.envs.cartpole import CartPole
from rl4py.modules.activations import Tanh
from rl4py.modules.qvalue import EpsilonGreedy, QValueActor, greedy_action, linear_schedule, make_q_network


class FixedQ(nn.Module):
    """Q-values that do not depend on the observation: action 2 is always best."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.0, 1.0, 3.0, 2.0]).expand(*obs.shape[:-1], 4)


def _td(n: int) -> TensorDict:
    return TensorDict({"observation": torch.zeros(n, 3)}, batch_size=[n])


@pytest.mark.parametrize(
    "t, expected",
    [(0, 1.0), (1_000, 0.905), (5_000, 0.525), (9_999, 0.050095), (10_000, 0.05), (50_000, 0.05)],
)
def test_linear_schedule_values(t, expected):
    assert linear_schedule(1.0, 0.05, 10_000, t) == pytest.approx(expected, abs=1e-12)


def test_linear_schedule_edge_cases():
    assert linear_schedule(1.0, 0.1, 0, 0) == 0.1
    assert linear_schedule(0.2, 0.8, 4, 1) == pytest.approx(0.35)  # increasing schedules work too
    with pytest.raises(ValueError, match="steps must be >= 0, got -1"):
        linear_schedule(1.0, 0.1, -1, 0)
    with pytest.raises(ValueError, match="t must be >= 0, got -3"):
        linear_schedule(1.0, 0.1, 10, -3)


def test_greedy_action_and_mask():
    q = torch.tensor([[1.0, 5.0, 2.0], [4.0, 0.0, 4.0]])
    assert torch.equal(greedy_action(q), torch.tensor([1, 0]))  # ties go to the lowest index
    mask = torch.tensor([[True, False, True], [False, True, True]])
    assert torch.equal(greedy_action(q, mask), torch.tensor([2, 2]))
    with pytest.raises(ValueError, match="action_mask must be a bool tensor"):
        greedy_action(q, mask.float())


def test_qvalue_actor_writes_values_and_argmax():
    torch.manual_seed(0)
    actor = QValueActor(nn.Linear(3, 4))
    td = TensorDict({"observation": torch.randn(5, 2, 3)}, batch_size=[5, 2])
    actor(td)
    assert td["action_value"].shape == (5, 2, 4)
    assert torch.equal(td["action"], td["action_value"].argmax(-1))
    assert actor.in_keys == ["observation"] and actor.out_keys == ["action_value", "action"]


def test_epsilon_zero_is_greedy():
    policy = EpsilonGreedy(4, eps_start=0.0, eps_end=0.0, generator=0, actor=QValueActor(FixedQ()))
    assert torch.equal(policy(_td(1000))["action"], torch.full((1000,), 2))


def test_epsilon_one_gives_uniform_actions():
    policy = EpsilonGreedy(4, eps_start=1.0, eps_end=1.0, generator=0, actor=QValueActor(FixedQ()))
    n = 40_000
    counts = torch.bincount(policy(_td(n))["action"], minlength=4).double()
    expected = n / 4
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 16.27  # chi-square, 3 degrees of freedom, p = 0.001
    assert counts.min() > 0


def test_intermediate_epsilon_explores_at_the_right_rate():
    policy = EpsilonGreedy(4, eps_start=0.4, eps_end=0.4, generator=1, actor=QValueActor(FixedQ()))
    n = 40_000
    action = policy(_td(n))["action"]
    # greedy action 2 is kept with probability (1 - eps) + eps / 4 = 0.7
    assert (action == 2).double().mean().item() == pytest.approx(0.7, abs=0.01)
    assert (action == 0).double().mean().item() == pytest.approx(0.1, abs=0.01)


def test_mask_restricts_random_actions():
    policy = EpsilonGreedy(4, eps_start=1.0, eps_end=1.0, generator=2, action_mask_key="action_mask")
    n = 8_000
    mask = torch.tensor([True, False, True, False]).expand(n, 4)
    td = TensorDict({"action": torch.zeros(n, dtype=torch.int64), "action_mask": mask}, batch_size=[n])
    counts = torch.bincount(policy(td)["action"], minlength=4)
    assert counts[1] == 0 and counts[3] == 0
    assert abs(counts[0].item() - n / 2) < 4 * (n / 4) ** 0.5


def test_epsilon_advances_with_step_and_is_saved():
    policy = EpsilonGreedy(CartPole(num_envs=2), eps_start=1.0, eps_end=0.05, annealing_steps=10_000, generator=3)
    assert policy.n_actions == 2 and policy.epsilon == 1.0
    policy.step(2_500)
    assert policy.epsilon == pytest.approx(0.7625)
    policy.step(2_500)
    assert policy.epsilon == pytest.approx(0.525)
    policy.step(100_000)
    assert policy.epsilon == 0.05
    state = policy.state_dict()
    restored = EpsilonGreedy(2, annealing_steps=10_000, generator=99)
    restored.load_state_dict(state)
    assert restored.epsilon == 0.05 and restored.steps == 105_000
    assert torch.equal(restored.generator.get_state(), policy.generator.get_state())


def test_same_seed_same_actions():
    def actions(seed: int) -> torch.Tensor:
        policy = EpsilonGreedy(4, eps_start=0.5, eps_end=0.5, generator=seed, actor=QValueActor(FixedQ()))
        return policy(_td(256))["action"]

    assert torch.equal(actions(5), actions(5))
    assert not torch.equal(actions(5), actions(6))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="eps_start must be in"):
        EpsilonGreedy(2, eps_start=1.5)
    with pytest.raises(ValueError, match="annealing_steps must be >= 0"):
        EpsilonGreedy(2, annealing_steps=-1)
    with pytest.raises(TypeError, match="action_space must be"):
        EpsilonGreedy(gym.spaces.Box(-1, 1, (2,)))
    with pytest.raises(TypeError, match="generator must be"):
        EpsilonGreedy(2, generator="seed")
    assert EpsilonGreedy(gym.spaces.Discrete(5)).n_actions == 5


def test_make_q_network_builds_the_mlp():
    q = make_q_network(4, 3, num_cells=(8, 16))
    kinds = [type(m) for m in q.network]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert q(_td(5).set("observation", torch.zeros(5, 4)))["action_value"].shape == (5, 3)
    assert isinstance(make_q_network(4, 2, activation="tanh").network[1], Tanh)
    assert isinstance(make_q_network(4, 2, activation=nn.ELU).network[1], nn.ELU)
    with pytest.raises(ValueError, match="activation must be one of"):
        make_q_network(4, 2, activation="gelu")
