from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule

from rl4py.testing import multi_head_gae_reference
from rl4py.values import GAE, VALUE_ESTIMATORS, MultiHeadGAE, make_value_estimator, multi_head_value_loss
from rl4py.values.functional import generalized_advantage_estimate, multi_head_generalized_advantage_estimate

# the public function and the loop reference it is tested against: hand-computed cases pin both
FNS = [multi_head_generalized_advantage_estimate, multi_head_gae_reference]


def _random_heads(seed, batch, t, n, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    value, next_value, reward = (torch.randn(*batch, t, n, generator=g, dtype=dtype) for _ in range(3))
    done = torch.rand(*batch, t, 1, generator=g) < 0.25
    terminated = done & (torch.rand(*batch, t, 1, generator=g) < 0.5)
    return value, next_value, reward, done, terminated


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_one_head_is_gae(fn, batch):
    value, next_value, reward, done, terminated = _random_heads(0, batch, 17, 1)
    combined, heads, target = fn([0.97], [0.9], [1.0], value, next_value, reward, done, terminated)
    adv, gae_target = generalized_advantage_estimate(0.97, 0.9, value, next_value, reward, done, terminated)
    torch.testing.assert_close(combined, adv)
    torch.testing.assert_close(heads, adv)
    torch.testing.assert_close(target, gae_target)


@pytest.mark.parametrize("fn", FNS)
def test_each_head_has_its_own_gamma_and_lambda_and_weights_combine(fn):
    gammas, lmbdas, weights = [0.5, 0.9, 0.99], [0.0, 0.8, 1.0], [0.2, -1.0, 3.0]
    value, next_value, reward, done, terminated = _random_heads(1, (5,), 12, 3)
    combined, heads, target = fn(gammas, lmbdas, weights, value, next_value, reward, done, terminated)
    assert combined.shape == (5, 12, 1) and heads.shape == target.shape == (5, 12, 3)
    expected_combined = torch.zeros(5, 12, 1, dtype=torch.float64)
    for h in range(3):
        sl = slice(h, h + 1)
        adv, gae_target = generalized_advantage_estimate(
            gammas[h], lmbdas[h], value[..., sl], next_value[..., sl], reward[..., sl], done, terminated
        )
        torch.testing.assert_close(heads[..., sl], adv)
        torch.testing.assert_close(target[..., sl], gae_target)
        expected_combined += weights[h] * adv
    torch.testing.assert_close(combined, expected_combined)


@pytest.mark.parametrize("fn", FNS)
def test_hand_computed_two_heads(fn):
    # head 0: gamma 0.5, lambda 1, rewards [1, 1], values 0 -> A = [1 + 0.5 * 1, 1] = [1.5, 1]
    # head 1: gamma 0 (myopic): A = rewards = [2, 2]
    # combined with weights [1, 0.5]: [1.5 + 1, 1 + 1] = [2.5, 2]
    no = torch.zeros(1, 2, 1, dtype=torch.bool)
    zeros = torch.zeros(1, 2, 2)
    reward = torch.tensor([[[1.0, 2.0], [1.0, 2.0]]])
    combined, heads, target = fn([0.5, 0.0], [1.0, 1.0], [1.0, 0.5], zeros, zeros, reward, no, no)
    torch.testing.assert_close(combined, torch.tensor([[[2.5], [2.0]]]))
    torch.testing.assert_close(heads, torch.tensor([[[1.5, 2.0], [1.0, 2.0]]]))
    torch.testing.assert_close(target, heads)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("batch", "n"), [((), 2), ((6,), 5), ((2, 3), 3)])
def test_matches_the_loop_reference(seed, batch, n):
    value, next_value, reward, done, terminated = _random_heads(seed, batch, 21, n)
    gammas = torch.linspace(0.8, 0.999, n, dtype=torch.float64)
    lmbdas = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    weights = torch.randn(n, dtype=torch.float64)
    out_reference = multi_head_gae_reference(gammas, lmbdas, weights, value, next_value, reward, done, terminated)
    out = multi_head_generalized_advantage_estimate(
        gammas, lmbdas, weights, value, next_value, reward, done, terminated
    )
    for a, b in zip(out_reference, out):
        torch.testing.assert_close(a, b)


def test_shape_errors():
    value, next_value, reward, done, terminated = _random_heads(0, (2,), 5, 3)
    g, lam, w = [0.9] * 3, [0.9] * 3, [1.0] * 3
    with pytest.raises(ValueError, match=r"reward has shape \(2, 5, 2\) but state_value has \(2, 5, 3\)"):
        multi_head_generalized_advantage_estimate(g, lam, w, value, next_value, reward[..., :2], done, terminated)
    with pytest.raises(ValueError, match=r"done has shape \(2, 5, 3\), expected \(2, 5, 1\)"):
        multi_head_generalized_advantage_estimate(g, lam, w, value, next_value, reward, done.expand(2, 5, 3))
    with pytest.raises(ValueError, match=r"gammas must have one entry per head, expected shape \(3,\), got \(2,\)"):
        multi_head_generalized_advantage_estimate([0.9, 0.9], lam, w, value, next_value, reward, done, terminated)
    with pytest.raises(ValueError, match=r"weights must have one entry per head, expected shape \(3,\), got \(4,\)"):
        multi_head_generalized_advantage_estimate(g, lam, [1.0] * 4, value, next_value, reward, done, terminated)
    with pytest.raises(ValueError, match=r"every entry of lmbdas must be in \[0, 1\], got \[0.9, 1.5, 0.9\]"):
        multi_head_generalized_advantage_estimate(g, [0.9, 1.5, 0.9], w, value, next_value, reward, done, terminated)
    with pytest.raises(ValueError, match="time dim"):
        multi_head_generalized_advantage_estimate(g, lam, w, *(torch.zeros(2, 0, 3),) * 3, torch.zeros(2, 0, 1).bool())


def test_multi_head_value_loss_is_per_head_mse():
    g = torch.Generator().manual_seed(4)
    predictions = torch.randn(3, 7, 4, generator=g, requires_grad=True)
    targets = torch.randn(3, 7, 4, generator=g, requires_grad=True)
    losses = multi_head_value_loss(predictions, targets)
    expected = torch.stack([torch.nn.functional.mse_loss(predictions[..., h], targets[..., h]) for h in range(4)])
    assert losses.shape == (4,)
    torch.testing.assert_close(losses, expected)
    losses.sum().backward()
    assert predictions.grad is not None and targets.grad is None  # targets are detached
    # hand-computed: head 0 errors [1, 3] -> 5; head 1 errors [0, 2] -> 2
    torch.testing.assert_close(
        multi_head_value_loss(torch.tensor([[1.0, 0.0], [3.0, 2.0]]), torch.zeros(2, 2)), torch.tensor([5.0, 2.0])
    )
    with pytest.raises(ValueError, match=r"targets has shape \(3, 7, 3\) but predictions has \(3, 7, 4\)"):
        multi_head_value_loss(predictions, torch.zeros(3, 7, 3))
    with pytest.raises(ValueError, match=r"predictions has shape \(\), expected a non-empty \[\*B, N\]"):
        multi_head_value_loss(torch.tensor(1.0), torch.tensor(1.0))


def _rollout_td(batch=(2,), t=6, n=3):
    shape = (*batch, t)
    done = torch.rand(*shape, 1) < 0.3
    return TensorDict(
        {
            "observation": torch.randn(*shape, 4),
            "next": {
                "observation": torch.randn(*shape, 4),
                "reward": torch.randn(*shape, n),
                "done": done,
                "terminated": done & (torch.rand(*shape, 1) < 0.5),
            },
        },
        batch_size=list(shape),
    )


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_module_matches_the_loop_reference(batch):
    critic = TensorDictModule(torch.nn.Linear(4, 3), in_keys=["observation"], out_keys=["state_value"])
    td = _rollout_td(batch)
    est = MultiHeadGAE([0.9, 0.99, 0.5], 0.95, [0.2, 0.3, 0.5], critic, head_advantage_key="head_adv")
    est(td)
    with torch.no_grad():
        torch.testing.assert_close(td["state_value"], critic.module(td["observation"]))
    combined, heads, target = multi_head_gae_reference(
        [0.9, 0.99, 0.5],
        [0.95] * 3,
        [0.2, 0.3, 0.5],
        td["state_value"],
        td["next", "state_value"],
        td["next", "reward"],
        td["next", "done"],
        td["next", "terminated"],
    )
    torch.testing.assert_close(td["advantage"], combined)
    torch.testing.assert_close(td["head_adv"], heads)
    torch.testing.assert_close(td["value_target"], target)
    assert td["advantage"].shape == (*batch, 6, 1) and not td["advantage"].requires_grad


def test_module_one_head_reproduces_gae_module():
    critic = TensorDictModule(torch.nn.Linear(4, 1), in_keys=["observation"], out_keys=["state_value"])
    td = _rollout_td(n=1)
    a = MultiHeadGAE([0.9], [0.8], [1.0], critic)(td.clone())
    b = GAE(0.9, 0.8, critic)(td.clone())
    torch.testing.assert_close(a["advantage"], b["advantage"])
    torch.testing.assert_close(a["value_target"], b["value_target"])


def test_module_errors():
    with pytest.raises(ValueError, match=r"gammas must have one entry per head \(3, as weights\), got 2"):
        MultiHeadGAE([0.9, 0.9], 0.95, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"weights must be a non-empty sequence"):
        MultiHeadGAE(0.9, 0.95, [])
    with pytest.raises(ValueError, match=r"every entry of gammas must be in \[0, 1\], got \(0.9, 1.1\)"):
        MultiHeadGAE([0.9, 1.1], 0.95, [1.0, 1.0])
    critic = TensorDictModule(torch.nn.Linear(4, 2), in_keys=["observation"], out_keys=["state_value"])
    with pytest.raises(ValueError, match=r"'state_value' has shape \(2, 6, 2\), expected 3 heads"):
        MultiHeadGAE(0.9, 0.95, [1.0, 1.0, 1.0], critic)(_rollout_td())
    with pytest.raises(KeyError, match=r"MultiHeadGAE: the rollout has no 'state_value'"):
        MultiHeadGAE(0.9, 0.95, [1.0, 1.0, 1.0])(_rollout_td())


def test_registry():
    assert VALUE_ESTIMATORS["multihead_gae"] is MultiHeadGAE
    est = make_value_estimator("multihead_gae", gammas=0.99, lmbdas=[0.9, 0.95], weights=[0.5, 0.5])
    assert isinstance(est, MultiHeadGAE)
    assert (est.gammas, est.lmbdas, est.weights, est.num_heads) == ((0.99, 0.99), (0.9, 0.95), (0.5, 0.5), 2)
