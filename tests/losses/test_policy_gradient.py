from __future__ import annotations

import pytest
import torch

from rl4py.losses.policy_gradient import awr_loss, huber_value_loss, reinforce_loss

# ---------------------------------------------------------------------------------------------
# huber_value_loss


def test_huber_by_hand():
    prediction = torch.tensor([0.5, 2.0, -3.0])
    target = torch.zeros(3)
    # delta 1: 0.5 * 0.25, 2 - 0.5, 3 - 0.5
    assert huber_value_loss(prediction, target).item() == pytest.approx((0.125 + 1.5 + 2.5) / 3)
    # delta 2: 0.5 * 0.25, 0.5 * 4, 2 * (3 - 1)
    assert huber_value_loss(prediction, target, delta=2.0).item() == pytest.approx((0.125 + 2.0 + 4.0) / 3)


def test_huber_with_delta_one_is_smooth_l1_and_the_formula_otherwise():
    g = torch.Generator().manual_seed(0)
    prediction, target = torch.randn(32, 1, generator=g) * 3, torch.randn(32, 1, generator=g)
    smooth_l1 = torch.nn.functional.smooth_l1_loss(prediction, target)
    torch.testing.assert_close(huber_value_loss(prediction, target), smooth_l1)
    error = (prediction - target).abs()
    expected = torch.where(error <= 0.3, 0.5 * error.square(), 0.3 * (error - 0.15)).mean()
    torch.testing.assert_close(huber_value_loss(prediction, target, delta=0.3), expected)


def test_huber_gradient_is_the_clipped_error_and_skips_the_target():
    prediction = torch.tensor([[0.5], [2.0], [-3.0], [0.0]], requires_grad=True)
    target = torch.zeros(4, 1, requires_grad=True)
    huber_value_loss(prediction, target).backward()
    torch.testing.assert_close(prediction.grad, torch.tensor([[0.5], [1.0], [-1.0], [0.0]]) / 4)
    assert target.grad is None


@pytest.mark.parametrize(
    "prediction, target, delta, match",
    [
        (torch.zeros(8), torch.zeros(8, 1), 1.0, r"target.*\(8,\).*got \(8, 1\).*broadcast"),
        (torch.zeros(8, 1), torch.zeros(8, 1), 0.0, r"delta.*> 0.*got 0\.0"),
        (torch.zeros(8, 1), torch.zeros(8, 1), float("nan"), r"delta.*got nan"),
        (torch.zeros(0, 1), torch.zeros(0, 1), 1.0, r"prediction is empty"),
    ],
)
def test_huber_bad_inputs(prediction, target, delta, match):
    with pytest.raises(ValueError, match=match):
        huber_value_loss(prediction, target, delta)


# ---------------------------------------------------------------------------------------------
# reinforce_loss


def test_reinforce_by_hand():
    log_prob = torch.tensor([[-0.5], [-1.0], [-2.0]], requires_grad=True)
    advantage = torch.tensor([[2.0], [-1.0], [0.5]], requires_grad=True)
    loss = reinforce_loss(log_prob, advantage)
    # -(2 * -0.5 + -1 * -1 + 0.5 * -2) / 3 = -(-1 + 1 - 1) / 3
    assert loss.item() == pytest.approx(1.0 / 3.0)
    loss.backward()
    torch.testing.assert_close(log_prob.grad, -advantage.detach() / 3)
    assert advantage.grad is None  # the advantage is a constant weight


def test_reinforce_gradient_is_the_score_function_estimate():
    """The gradient through a categorical log-prob is -A * (onehot(a) - softmax) / N per sample."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(16, 4, generator=g, requires_grad=True)
    actions = torch.randint(0, 4, (16,), generator=g)
    advantage = torch.randn(16, generator=g)
    log_prob = torch.distributions.Categorical(logits=logits).log_prob(actions)
    reinforce_loss(log_prob, advantage).backward()
    score = torch.nn.functional.one_hot(actions, 4) - logits.detach().softmax(-1)
    torch.testing.assert_close(logits.grad, -advantage[:, None] * score / 16)


def test_reinforce_mask_averages_over_valid_samples_only():
    log_prob = torch.tensor([-0.5, -1.0, -2.0, -4.0], requires_grad=True)
    advantage = torch.tensor([2.0, -1.0, 0.5, 3.0])
    mask = torch.tensor([True, False, True, False])
    loss = reinforce_loss(log_prob, advantage, mask)
    # valid: -(2 * -0.5 + 0.5 * -2) / 2 = 1
    assert loss.item() == pytest.approx(1.0)
    torch.testing.assert_close(loss, reinforce_loss(log_prob[mask], advantage[mask]))
    loss.backward()
    torch.testing.assert_close(log_prob.grad, torch.tensor([-1.0, 0.0, -0.25, 0.0]))
    # an all-true mask is no mask
    full = torch.ones(4, dtype=torch.bool)
    torch.testing.assert_close(reinforce_loss(log_prob, advantage, full), reinforce_loss(log_prob, advantage))


def test_reinforce_masked_padding_with_nan_and_inf_gets_zero_gradient():
    log_prob = torch.tensor([[-1.0, -float("inf")], [-0.5, float("nan")]], requires_grad=True)
    advantage = torch.tensor([[1.0, float("nan")], [2.0, 5.0]])
    mask = torch.tensor([[True, False], [True, False]])
    loss = reinforce_loss(log_prob, advantage, mask)
    assert loss.item() == pytest.approx((1.0 + 1.0) / 2)  # -(1 * -1 + 2 * -0.5) / 2
    loss.backward()
    torch.testing.assert_close(log_prob.grad, torch.tensor([[-0.5, 0.0], [-1.0, 0.0]]))


@pytest.mark.parametrize(
    "log_prob, advantage, mask, error, match",
    [
        (torch.zeros(8), torch.zeros(8, 1), None, ValueError, r"advantage.*\(8,\).*got \(8, 1\)"),
        (torch.zeros(8, 1), torch.zeros(8, 1), torch.ones(8, dtype=torch.bool), ValueError, r"mask.*\(8, 1\).*\(8,\)"),
        (torch.zeros(8, 1), torch.zeros(8, 1), torch.ones(8, 1), TypeError, r"mask.*bool.*float32"),
        (torch.zeros(8, 1), torch.zeros(8, 1), torch.zeros(8, 1, dtype=torch.bool), ValueError, r"mask has no true"),
        (torch.zeros(0), torch.zeros(0), None, ValueError, r"log_prob is empty"),
    ],
)
def test_reinforce_bad_inputs(log_prob, advantage, mask, error, match):
    with pytest.raises(error, match=match):
        reinforce_loss(log_prob, advantage, mask)


# ---------------------------------------------------------------------------------------------
# awr_loss


def test_awr_by_hand():
    predicted = torch.tensor([[1.0, 0.0], [0.0, 0.0], [2.0, 2.0]])
    actions = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    advantage = torch.tensor([2.0, -1.0, 0.5])
    # squared errors summed over action dims: 1, 25, 5; weights max(A, 0): 2, 0, 0.5; mean over all 3
    expected = (2.0 * 1.0 + 0.0 * 25.0 + 0.5 * 5.0) / 3
    assert awr_loss(predicted, actions, advantage).item() == pytest.approx(expected)
    # [B, 1] advantages (rl4py's per-step layout) give the same
    assert awr_loss(predicted, actions, advantage[:, None]).item() == pytest.approx(expected)


def test_awr_matches_a_weighted_mse_reference():
    g = torch.Generator().manual_seed(2)
    predicted, actions = torch.randn(4, 6, 3, generator=g), torch.randn(4, 6, 3, generator=g)
    advantage = torch.randn(4, 6, 1, generator=g)
    per_sample = torch.nn.functional.mse_loss(predicted, actions, reduction="none").sum(-1)
    expected = (torch.relu(advantage.squeeze(-1)) * per_sample).mean()
    torch.testing.assert_close(awr_loss(predicted, actions, advantage), expected)


def test_awr_negative_advantages_get_zero_gradient():
    predicted = torch.tensor([[1.0, -1.0], [5.0, 5.0], [0.5, 0.0], [2.0, 1.0]], requires_grad=True)
    actions = torch.zeros(4, 2, requires_grad=True)
    advantage = torch.tensor([1.0, -3.0, 0.0, 2.0], requires_grad=True)
    awr_loss(predicted, actions, advantage).backward()
    # d/d a_hat = 2 * max(A, 0) * (a_hat - a) / B
    expected = 2 * torch.tensor([[1.0], [0.0], [0.0], [2.0]]) * predicted.detach() / 4
    torch.testing.assert_close(predicted.grad, expected)
    assert (predicted.grad[1:3] == 0).all()
    assert advantage.grad is None and actions.grad is None


def test_awr_with_only_negative_advantages_is_zero():
    predicted = torch.randn(5, 2, requires_grad=True)
    loss = awr_loss(predicted, torch.randn(5, 2), -torch.rand(5) - 0.1)
    assert loss.item() == 0.0
    loss.backward()
    assert (predicted.grad == 0).all()


@pytest.mark.parametrize(
    "predicted, actions, advantage, match",
    [
        (torch.zeros(8), torch.zeros(8), torch.zeros(8), r"predicted_actions.*at least 2-D.*got shape \(8,\)"),
        (torch.zeros(8, 2), torch.zeros(8, 3), torch.zeros(8), r"actions.*\(8, 2\).*got \(8, 3\)"),
        (torch.zeros(8, 2), torch.zeros(8, 2), torch.zeros(8, 2), r"advantage.*\(8,\) or \(8, 1\).*got \(8, 2\)"),
        (torch.zeros(8, 2), torch.zeros(8, 2), torch.zeros(7), r"advantage.*\(8,\) or \(8, 1\).*got \(7,\)"),
        (torch.zeros(0, 2), torch.zeros(0, 2), torch.zeros(0), r"predicted_actions is empty"),
    ],
)
def test_awr_bad_inputs(predicted, actions, advantage, match):
    with pytest.raises(ValueError, match=match):
        awr_loss(predicted, actions, advantage)


def test_awr_fits_the_positive_advantage_actions():
    """Gradient descent on the AWR loss moves a free action towards the advantage-weighted mean of the
    positively-rated actions and ignores the negatively-rated ones."""
    actions = torch.tensor([[1.0], [3.0], [-10.0]]).expand(3, 1)
    advantage = torch.tensor([1.0, 3.0, -5.0])
    free = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([free], lr=0.3)
    for _ in range(200):
        optimizer.zero_grad()
        awr_loss(free.expand(3, 1), actions, advantage).backward()
        optimizer.step()
    assert free.item() == pytest.approx((1.0 * 1.0 + 3.0 * 3.0) / 4.0, abs=1e-4)
