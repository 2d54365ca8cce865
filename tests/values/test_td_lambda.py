from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule

from rl4py.testing import td_lambda_reference
from rl4py.values import GAE, VALUE_ESTIMATORS, TDLambda, make_value_estimator
from rl4py.values.functional import td_lambda_return_estimate

# the public function and the loop reference it is tested against: hand-computed cases pin both
FNS = [td_lambda_return_estimate, td_lambda_reference]


def _col(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype).view(1, -1, 1)


def _random(seed, shape, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    value, next_value, reward = (torch.randn(shape, generator=g, dtype=dtype) for _ in range(3))
    continuation = torch.rand(shape, generator=g, dtype=dtype)
    done = torch.rand(shape, generator=g) < 0.2
    return value, next_value, reward, continuation, done


@pytest.mark.parametrize("fn", FNS)
def test_hand_computed_with_continuation_probabilities(fn):
    # gamma 0.5, lambda 0.5, r = [1, 2, 0], V(s') = [2, 4, 8], c = [1, 0.5, 1]
    # R_2 = 0 + 0.5 * 1 * 8 = 4 (bootstrap)
    # R_1 = 2 + 0.5 * 0.5 * (0.5 * 4 + 0.5 * 4) = 3
    # R_0 = 1 + 0.5 * 1 * (0.5 * 2 + 0.5 * 3) = 2.25
    value = _col([1.0, 1.0, 1.0])
    adv, ret = fn(0.5, 0.5, value, _col([2.0, 4.0, 8.0]), _col([1.0, 2.0, 0.0]), _col([1.0, 0.5, 1.0]))
    torch.testing.assert_close(ret, _col([2.25, 3.0, 4.0]))
    torch.testing.assert_close(adv, _col([1.25, 2.0, 3.0]))


@pytest.mark.parametrize("fn", FNS)
def test_hand_computed_with_an_episode_end_in_the_middle(fn):
    # gamma 0.5, lambda 0.5, r = 1, V(s') = [2, 2, 6, 2]; the episode ends at t = 1
    # R_3 = 1 + 0.5 * 2 = 2;  R_2 = 1 + 0.5 * (0.5 * 6 + 0.5 * 2) = 3
    # truncated: R_1 = 1 + 0.5 * 2 = 2 (recursion cut, bootstrap kept); R_0 = 1 + 0.5 * (0.5 * 2 + 0.5 * 2) = 2
    # terminated: c_1 = 0, R_1 = 1;                                      R_0 = 1 + 0.5 * (0.5 * 2 + 0.5 * 1) = 1.75
    reward, next_value, value = _col([1.0] * 4), _col([2.0, 2.0, 6.0, 2.0]), torch.zeros(1, 4, 1)
    done = _col([False, True, False, False], torch.bool)
    _, truncated = fn(0.5, 0.5, value, next_value, reward, torch.ones(1, 4, 1), done)
    torch.testing.assert_close(truncated, _col([2.0, 2.0, 3.0, 2.0]))
    _, terminated = fn(0.5, 0.5, value, next_value, reward, (~done).float(), done)
    torch.testing.assert_close(terminated, _col([1.75, 1.0, 3.0, 2.0]))


@pytest.mark.parametrize("fn", FNS)
def test_lambda_zero_is_one_step_td_target(fn):
    value, next_value, reward, continuation, done = _random(0, (3, 11, 1))
    adv, ret = fn(0.9, 0.0, value, next_value, reward, continuation, done)
    torch.testing.assert_close(ret, reward + 0.9 * continuation * next_value)
    torch.testing.assert_close(adv, ret - value)


@pytest.mark.parametrize("fn", FNS)
def test_lambda_one_is_discounted_return_plus_bootstrap(fn):
    gamma, rewards, bootstrap = 0.9, [1.0, -2.0, 0.5, 3.0, 0.25], 1.5
    t = len(rewards)
    expected = [
        sum(gamma ** (k - s) * rewards[k] for k in range(s, t)) + gamma ** (t - s) * bootstrap for s in range(t)
    ]
    next_value = _col([9.0, -9.0, 9.0, -9.0, bootstrap], torch.float64)  # lambda = 1 ignores all but the bootstrap
    zeros, ones = torch.zeros(1, t, 1, dtype=torch.float64), torch.ones(1, t, 1, dtype=torch.float64)
    _, ret = fn(gamma, 1.0, zeros, next_value, _col(rewards, torch.float64), ones)
    torch.testing.assert_close(ret.flatten(), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(40, 1), (7, 33, 1), (3, 2, 19, 1), (4, 1, 1), (2, 1000, 1)])
@pytest.mark.parametrize("with_done", [True, False])
def test_matches_the_loop_reference(seed, shape, with_done):
    value, next_value, reward, continuation, done = _random(seed, shape)
    done = done if with_done else None
    a1, r1 = td_lambda_reference(0.97, 0.8, value, next_value, reward, continuation, done)
    a2, r2 = td_lambda_return_estimate(0.97, 0.8, value, next_value, reward, continuation, done)
    assert r1.shape == shape
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(r1, r2)


def _scalar_lambda_return(rewards, next_values, continuation, dones, gamma, lmbda):
    out = [0.0] * len(rewards)
    for t in reversed(range(len(rewards))):
        last = t == len(rewards) - 1 or dones[t]
        tail = next_values[t] if last else (1 - lmbda) * next_values[t] + lmbda * out[t + 1]
        out[t] = rewards[t] + gamma * continuation[t] * tail
    return out


@pytest.mark.parametrize("fn", FNS)
def test_matches_scalar_transcription(fn):
    value, next_value, reward, continuation, done = _random(5, (1, 30, 1))
    _, ret = fn(0.95, 0.7, value, next_value, reward, continuation, done)
    flat = [x.flatten().tolist() for x in (reward, next_value, continuation, done)]
    expected = _scalar_lambda_return(*flat, gamma=0.95, lmbda=0.7)
    torch.testing.assert_close(ret.flatten(), torch.tensor(expected, dtype=torch.float64))


def test_bad_input_raises():
    x = torch.zeros(2, 5, 1)
    with pytest.raises(
        ValueError, match=r"continuation must hold probabilities in \[0, 1\], got values in \[0.0, 1.5\]"
    ):
        td_lambda_return_estimate(0.9, 0.9, x, x, x, torch.tensor([0.0, 1.5]).repeat(5).view(2, 5, 1))
    with pytest.raises(ValueError, match=r"continuation has shape \(2, 4, 1\) but state_value has \(2, 5, 1\)"):
        td_lambda_return_estimate(0.9, 0.9, x, x, x, torch.ones(2, 4, 1))
    with pytest.raises(ValueError, match=r"done has shape \(2, 5\) but state_value has \(2, 5, 1\)"):
        td_lambda_return_estimate(0.9, 0.9, x, x, x, torch.ones(2, 5, 1), torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="TDLambda: gamma must be in"):
        TDLambda(gamma=2.0)
    with pytest.raises(ValueError, match="TDLambda: lmbda must be in"):
        TDLambda(lmbda=-1.0)


def _consistent_rollout(batch=(2,), t=8, seed=0):
    """A rollout whose ("next", "observation") is the next step's "observation" inside an episode."""
    g = torch.Generator().manual_seed(seed)
    shape = (*batch, t)
    obs = torch.randn(*batch, t + 1, 3, generator=g)
    done = torch.rand(*shape, 1, generator=g) < 0.3
    next_obs = torch.where(done, torch.randn(*shape, 3, generator=g), obs[..., 1:, :])
    return TensorDict(
        {
            "observation": obs[..., :-1, :],
            "next": {
                "observation": next_obs,
                "reward": torch.randn(*shape, 1, generator=g),
                "done": done,
                "terminated": done & (torch.rand(*shape, 1, generator=g) < 0.5),
            },
        },
        batch_size=list(shape),
    )


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_module_on_env_rollouts_equals_gae_targets(batch):
    critic = TensorDictModule(torch.nn.Linear(3, 1), in_keys=["observation"], out_keys=["state_value"])
    td = _consistent_rollout(batch)
    a = TDLambda(0.9, 0.8, value_network=critic)(td.clone())
    b = GAE(0.9, 0.8, value_network=critic)(td.clone())
    torch.testing.assert_close(a["value_target"], b["value_target"])
    torch.testing.assert_close(a["advantage"], b["advantage"])
    assert a["value_target"].shape == (*batch, 8, 1) and not a["value_target"].requires_grad


def test_module_with_continuation_key_for_imagined_rollouts():
    g = torch.Generator().manual_seed(2)
    td = TensorDict(
        {
            "state_value": torch.randn(4, 15, 1, generator=g),
            "next": {
                "state_value": torch.randn(4, 15, 1, generator=g),
                "reward": torch.randn(4, 15, 1, generator=g),
                "continue": torch.rand(4, 15, 1, generator=g),
            },
        },
        batch_size=[4, 15],
    )
    TDLambda(0.997, 0.95, continuation_key="continue")(td)  # no done entry: imagination never resets
    adv, ret = td_lambda_return_estimate(
        0.997, 0.95, td["state_value"], td["next", "state_value"], td["next", "reward"], td["next", "continue"]
    )
    torch.testing.assert_close(td["value_target"], ret)
    torch.testing.assert_close(td["advantage"], adv)
    with pytest.raises(KeyError, match=r"TDLambda: the rollout has no \('next', 'cont'\); it is written by the world"):
        TDLambda(continuation_key="cont")(td)
    with pytest.raises(KeyError, match=r"the rollout has no \('next', 'terminated'\); it is written by the env"):
        TDLambda()(td)


def test_registry():
    assert VALUE_ESTIMATORS["td_lambda"] is TDLambda
    est = make_value_estimator("td_lambda", gamma=0.5, lmbda=0.25, continuation_key="continue")
    assert isinstance(est, TDLambda) and (est.gamma, est.lmbda) == (0.5, 0.25)
    assert est.continuation_key == ("next", "continue")


def test_mixed_float_dtypes_promote():
    value, next_value, reward, continuation, done = _random(3, (2, 9, 1))
    loop = td_lambda_reference(0.9, 0.5, value.float(), next_value, reward, continuation.float(), done)
    vec = td_lambda_return_estimate(0.9, 0.5, value.float(), next_value, reward, continuation.float(), done)
    exact = td_lambda_return_estimate(0.9, 0.5, value.float().double(), next_value, reward, continuation, done)
    for a, b, c in zip(loop, vec, exact):
        assert a.dtype == b.dtype == torch.float64
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c, rtol=1e-6, atol=1e-6)


def test_returns_carry_the_gradient_of_imagined_rewards_and_values():
    reward = torch.ones(1, 3, 1, requires_grad=True)
    next_value = torch.full((1, 3, 1), 2.0, requires_grad=True)
    td = TensorDict(
        {
            "state_value": torch.zeros(1, 3, 1),
            "next": {"state_value": next_value, "reward": reward, "continue": torch.ones(1, 3, 1)},
        },
        batch_size=[1, 3],
    )
    TDLambda(gamma=0.5, lmbda=0.5, continuation_key="continue")(td)["value_target"].sum().backward()
    assert reward.grad is not None and next_value.grad is not None
    assert reward.grad[0, 0, 0] > 0  # the first return sums later rewards too
