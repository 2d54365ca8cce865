from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule

from rl4py import GAE, SyncCollector
from rl4py.testing import InfiniteHorizonEnv, gae_reference
from rl4py.values import VALUE_ESTIMATORS, make_value_estimator
from rl4py.values.functional import generalized_advantage_estimate, td0_advantage

# the public function and the loop reference it is tested against: hand-computed cases pin both
FNS = [generalized_advantage_estimate, gae_reference]


def _scalar_gae(rewards, values, next_values, dones, terminated, gamma, lmbda):
    """Independent per-element reference: plain Python floats, one episode layout."""
    adv = [0.0] * len(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * (0.0 if terminated[t] else next_values[t]) - values[t]
        running = delta + gamma * lmbda * (0.0 if dones[t] else running)
        adv[t] = running
    return adv


def _col(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype).view(1, -1, 1)


@pytest.mark.parametrize("fn", FNS)
def test_seed_book_example(fn):
    # rewards [1,1,1,0], values [5,4,3,2], episode ends (terminates) at the last step
    rewards, values, dones = [1.0, 1.0, 1.0, 0.0], [5.0, 4.0, 3.0, 2.0], [False, False, False, True]
    next_values = [4.0, 3.0, 2.0, 0.0]
    gamma, lmbda = 0.99, 0.95
    # by hand: deltas = r + g*V' - V
    d3 = 0.0 - 2.0
    d2 = 1.0 + 0.99 * 2.0 - 3.0
    d1 = 1.0 + 0.99 * 3.0 - 4.0
    d0 = 1.0 + 0.99 * 4.0 - 5.0
    a3 = d3
    a2 = d2 + 0.99 * 0.95 * a3
    a1 = d1 + 0.99 * 0.95 * a2
    a0 = d0 + 0.99 * 0.95 * a1
    expected = torch.tensor([a0, a1, a2, a3])
    adv, target = fn(
        gamma,
        lmbda,
        _col(values),
        _col(next_values),
        _col(rewards),
        _col(dones, torch.bool),
        _col(dones, torch.bool),
    )
    torch.testing.assert_close(adv.flatten(), expected)
    torch.testing.assert_close(target.flatten(), expected + torch.tensor(values))
    # the same numbers worked out on paper (gamma * lambda = 0.9405)
    torch.testing.assert_close(adv.flatten(), torch.tensor([-1.74972601525, -1.8178905, -1.901, -2.0]))


@pytest.mark.parametrize("fn", FNS)
def test_truncation_bootstraps_from_next_value(fn):
    # one step, truncated (done, not terminated): A = r + gamma * V(s') - V(s)
    adv, _ = fn(0.9, 0.8, _col([1.0]), _col([10.0]), _col([2.0]), _col([True], torch.bool), _col([False], torch.bool))
    assert adv.item() == pytest.approx(2.0 + 0.9 * 10.0 - 1.0)
    # terminated: no bootstrap
    adv, _ = fn(0.9, 0.8, _col([1.0]), _col([10.0]), _col([2.0]), _col([True], torch.bool), _col([True], torch.bool))
    assert adv.item() == pytest.approx(2.0 - 1.0)


def test_truncation_cuts_recursion_but_not_bootstrap():
    rewards, values, next_values = [1.0, 2.0, 3.0], [0.5, 0.2, 0.1], [0.2, 7.0, 0.4]
    dones, terminated = [False, True, False], [False, False, False]
    expected = _scalar_gae(rewards, values, next_values, dones, terminated, 0.9, 0.7)
    for fn in FNS:
        adv, _ = fn(
            0.9,
            0.7,
            _col(values),
            _col(next_values),
            _col(rewards),
            _col(dones, torch.bool),
            _col(terminated, torch.bool),
        )
        torch.testing.assert_close(adv.flatten(), torch.tensor(expected))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(7, 33, 1), (3, 2, 50, 1), (4, 1, 1), (5, 16, 3), (2, 1000, 1)])
def test_matches_the_loop_reference_on_random_data(seed, shape):
    g = torch.Generator().manual_seed(seed)
    value, next_value, reward = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3))
    done = torch.rand(shape, generator=g) < 0.2
    terminated = done & (torch.rand(shape, generator=g) < 0.5)
    a1, t1 = gae_reference(0.99, 0.95, value, next_value, reward, done, terminated)
    a2, t2 = generalized_advantage_estimate(0.99, 0.95, value, next_value, reward, done, terminated)
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(t1, t2)


@pytest.mark.parametrize("fn", FNS)
def test_matches_scalar_transcription(fn):
    g = torch.Generator().manual_seed(3)
    t = 40
    value, next_value, reward = (torch.randn(1, t, 1, generator=g, dtype=torch.float64) for _ in range(3))
    done = torch.rand(1, t, 1, generator=g) < 0.3
    terminated = done & (torch.rand(1, t, 1, generator=g) < 0.5)
    adv, _ = fn(0.97, 0.9, value, next_value, reward, done, terminated)
    expected = _scalar_gae(
        reward.flatten().tolist(),
        value.flatten().tolist(),
        next_value.flatten().tolist(),
        done.flatten().tolist(),
        terminated.flatten().tolist(),
        0.97,
        0.9,
    )
    torch.testing.assert_close(adv.flatten(), torch.tensor(expected, dtype=torch.float64))


def test_lambda_zero_is_td0():
    g = torch.Generator().manual_seed(1)
    value, next_value, reward = (torch.randn(2, 9, 1, generator=g) for _ in range(3))
    done = torch.rand(2, 9, 1, generator=g) < 0.3
    adv, _ = generalized_advantage_estimate(0.9, 0.0, value, next_value, reward, done, done)
    torch.testing.assert_close(adv, td0_advantage(0.9, value, next_value, reward, done))


def test_shape_mismatch_and_bad_input_raise():
    x = torch.zeros(2, 5, 1)
    with pytest.raises(ValueError, match="reward has shape"):
        generalized_advantage_estimate(0.9, 0.9, x, x, torch.zeros(2, 4, 1), x.bool(), x.bool())
    with pytest.raises(ValueError, match="time dim"):
        generalized_advantage_estimate(0.9, 0.9, *(torch.zeros(2, 0, 1),) * 3, *(torch.zeros(2, 0, 1).bool(),) * 2)
    with pytest.raises(ValueError, match=r"\[\*batch, T, 1\]"):
        generalized_advantage_estimate(0.9, 0.9, torch.zeros(5), torch.zeros(5), torch.zeros(5), torch.zeros(5).bool())
    with pytest.raises(ValueError, match="gamma"):
        GAE(gamma=1.5)
    with pytest.raises(ValueError, match="lmbda"):
        GAE(lmbda=-0.1)


def _rollout_td(b=2, t=4):
    return TensorDict(
        {
            "observation": torch.randn(b, t, 3),
            "next": {
                "observation": torch.randn(b, t, 3),
                "reward": torch.randn(b, t, 1),
                "done": torch.zeros(b, t, 1, dtype=torch.bool),
                "terminated": torch.zeros(b, t, 1, dtype=torch.bool),
            },
        },
        batch_size=[b, t],
    )


def test_module_runs_value_network_on_root_and_next():
    critic = TensorDictModule(torch.nn.Linear(3, 1), in_keys=["observation"], out_keys=["state_value"])
    td = _rollout_td()
    GAE(0.9, 0.8, value_network=critic)(td)
    with torch.no_grad():
        torch.testing.assert_close(td["state_value"], critic.module(td["observation"]))
        torch.testing.assert_close(td["next", "state_value"], critic.module(td["next", "observation"]))
    adv, target = generalized_advantage_estimate(
        0.9, 0.8, td["state_value"], td["next", "state_value"], td["next", "reward"], td["next", "done"]
    )
    torch.testing.assert_close(td["advantage"], adv)
    torch.testing.assert_close(td["value_target"], target)
    assert not td["advantage"].requires_grad


def test_module_without_values_raises_naming_key():
    with pytest.raises(KeyError, match="state_value"):
        GAE()(_rollout_td())


def test_module_matches_the_loop_reference():
    critic = TensorDictModule(torch.nn.Linear(3, 1), in_keys=["observation"], out_keys=["state_value"])
    td = _rollout_td(3, 12)
    td["next", "done"] = torch.rand(3, 12, 1) < 0.3
    td["next", "terminated"] = td["next", "done"] & (torch.rand(3, 12, 1) < 0.5)
    GAE(0.9, 0.8, value_network=critic)(td)
    adv, target = gae_reference(
        0.9,
        0.8,
        td["state_value"],
        td["next", "state_value"],
        td["next", "reward"],
        td["next", "done"],
        td["next", "terminated"],
    )
    torch.testing.assert_close(td["advantage"], adv)
    torch.testing.assert_close(td["value_target"], target)


def test_registry():
    assert VALUE_ESTIMATORS["gae"] is GAE
    est = make_value_estimator("gae", gamma=0.5, lmbda=0.25)
    assert isinstance(est, GAE) and est.gamma == 0.5 and est.lmbda == 0.25
    with pytest.raises(KeyError, match="unknown value estimator 'nope'"):
        make_value_estimator("nope")


class _ConstantCritic(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.value = torch.nn.Parameter(torch.zeros(()))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.value.expand(*obs.shape[:-1], 1)


def _fixed_point_value(truncation_bootstraps: bool, gamma: float) -> float:
    """Iterates V <- mean(GAE value target) on the infinite-horizon env with a time limit."""
    critic_net = _ConstantCritic()
    critic = TensorDictModule(critic_net, in_keys=["observation"], out_keys=["state_value"])
    gae = GAE(gamma, 0.95, value_network=critic)
    collector = SyncCollector(InfiniteHorizonEnv(num_envs=8, max_episode_steps=10), None, rollout_length=25, seed=0)
    for _ in range(300):
        td = collector.rollout()
        if not truncation_bootstraps:  # what a library that treats timeouts as terminations does
            td["next", "terminated"] = td["next", "done"].clone()
        gae(td)
        with torch.no_grad():
            critic_net.value.copy_(td["value_target"].mean())
    return critic_net.value.item()


def test_infinite_horizon_value_needs_truncation_bootstrap():
    gamma = 0.9
    value = _fixed_point_value(truncation_bootstraps=True, gamma=gamma)
    assert value == pytest.approx(1.0 / (1.0 - gamma), rel=1e-3)
    # treating the time limit as termination converges to a clearly smaller value
    wrong = _fixed_point_value(truncation_bootstraps=False, gamma=gamma)
    assert wrong < 0.8 / (1.0 - gamma)


def test_entries_without_the_trailing_dim_are_an_error_not_a_transpose():
    # [B, T] entries (no trailing 1) would otherwise run the recursion over the batch axis
    td = TensorDict(
        {
            "state_value": torch.zeros(3, 4),
            ("next", "state_value"): torch.zeros(3, 4),
            ("next", "reward"): torch.ones(3, 4),
            ("next", "done"): torch.zeros(3, 4, dtype=torch.bool),
            ("next", "terminated"): torch.zeros(3, 4, dtype=torch.bool),
        },
        batch_size=[3, 4],
    )
    with pytest.raises(ValueError, match=r"GAE: 'state_value' has shape \(3, 4\); expected \(3, 4, 1\)"):
        GAE(gamma=0.5, lmbda=1.0)(td)


def test_td0_advantage_refuses_flags_of_another_shape():
    value = torch.zeros(3, 4, 1)
    with pytest.raises(ValueError, match="terminated has shape \\(3, 4\\)"):
        td0_advantage(0.9, value, value, value, torch.zeros(3, 4, dtype=torch.bool))
