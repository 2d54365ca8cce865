"""The seed book's worked numbers for the value estimators, pinned with rl4py's public functions.

The book (``shared/seed/rl4burn-book.txt``) documents each estimator in a chapter; the worked
cases are those of rl4burn's unit tests of the function the chapter documents (the book's
``gae``, ``vtrace_targets``, ``upgo_advantages``, ``lambda_returns``, ``multi_head_value_loss``).
The book's layout is one sequence with ``values[t] = V(s_t)``, a ``last_value`` ``V(s_T)`` and
``dones[t]`` meaning "the episode ended at step t" (a termination); :func:`_rollout` turns it into
rl4py's ``[1, T, 1]`` tensors with ``next_state_value[t] = V(s_{t+1})``.
"""

from __future__ import annotations

import math

import pytest
import torch

from rl4py.values.functional import (
    generalized_advantage_estimate,
    multi_head_generalized_advantage_estimate,
    multi_head_value_loss,
    td_lambda_return_estimate,
    upgo_advantage_estimate,
    vtrace,
)


def _col(values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype).view(1, -1, 1)


def _rollout(rewards, values, dones, last_value):
    """The book's single-sequence inputs as rl4py's (state_value, next_state_value, reward, done)."""
    return _col(values), _col([*values[1:], last_value]), _col(rewards), _col(dones, torch.bool)


def _gae(rewards, values, dones, last_value, gamma=0.99, lmbda=0.95):
    value, next_value, reward, done = _rollout(rewards, values, dones, last_value)
    advantage, value_target = generalized_advantage_estimate(gamma, lmbda, value, next_value, reward, done)
    return advantage.flatten().tolist(), value_target.flatten().tolist()


# ---- GAE ---------------------------------------------------------------------------------------


def test_gae_single_terminal_step():
    """Book, "GAE (Generalized Advantage Estimation)": one terminal step, r = 1, V = 0 gives A = R = 1."""
    advantage, returns = _gae([1.0], [0.0], [True], 0.0)
    assert advantage == pytest.approx([1.0]) and returns == pytest.approx([1.0])


def test_gae_single_step_bootstraps_from_last_value():
    """Book, "GAE": one non-terminal step bootstraps, A = R = 1 + 0.99 * 0.5 = 1.495."""
    advantage, returns = _gae([1.0], [0.0], [False], 0.5)
    assert advantage == pytest.approx([1.495]) and returns == pytest.approx([1.495])


def test_gae_three_steps_ending_in_a_termination():
    """Book, "GAE": rewards 1, V = 0, the episode ends at the last step.

    The book asserts A_2 = 1 and A_0 > A_1 > A_2; with gamma * lambda = 0.9405 the values are
    A_1 = 1 + 0.9405 = 1.9405 and A_0 = 1 + 0.9405 * 1.9405.
    """
    advantage, _ = _gae([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [False, False, True], 0.0)
    assert advantage == pytest.approx([1.0 + 0.9405 * 1.9405, 1.9405, 1.0])
    assert advantage[0] > advantage[1] > advantage[2]


def test_gae_lambda_zero_is_the_one_step_td_error():
    """Book, "GAE" ("lambda = 0: TD(0)"): rewards [1, 2, 3], V = 0.5, last value 1: A = [0.995, 1.995, 3.49]."""
    advantage, _ = _gae([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [False, False, False], 1.0, lmbda=0.0)
    assert advantage == pytest.approx([0.995, 1.995, 3.49])


def test_gae_done_resets_the_accumulation():
    """Book, "GAE" ("Done handling"): rewards 1, V = 0, done at step 1 of 4.

    The terminal step's advantage is its reward, 1; the step before adds 0.9405 of it, 1.9405;
    the second episode (steps 2, 3) repeats the pattern with the last value 0.
    """
    advantage, _ = _gae([1.0] * 4, [0.0] * 4, [False, True, False, False], 0.0)
    assert advantage == pytest.approx([1.9405, 1.0, 1.9405, 1.0])


# ---- V-trace -----------------------------------------------------------------------------------


def _vtrace(log_rhos, discounts, rewards, values, bootstrap, rho_bar=1.0, c_bar=1.0):
    out = vtrace(
        *(torch.tensor(x, dtype=torch.float64) for x in (log_rhos, discounts, rewards, values)),
        bootstrap,
        rho_bar,
        c_bar,
    )
    return out.vs.tolist(), out.pg_advantages.tolist()


def test_vtrace_on_policy_zero_rewards_pulls_values_to_zero():
    """Book, "V-trace": on-policy, zero rewards, bootstrap 0, V = [0.5, 0.3, 0.1], discounts 0.99.

    Every target is the discounted return 0, so each advantage is -V(x_t) (the book asserts the
    last is negative).
    """
    vs, pg = _vtrace([0.0] * 3, [0.99] * 3, [0.0] * 3, [0.5, 0.3, 0.1], 0.0)
    assert vs == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    assert pg == pytest.approx([-0.5, -0.3, -0.1])


def test_vtrace_single_step_is_td0():
    """Book, "V-trace": one on-policy step, v = pg = r + gamma * bootstrap = 1 + 0.99 * 0.5 = 1.495."""
    vs, pg = _vtrace([0.0], [0.99], [1.0], [0.0], 0.5)
    assert vs == pytest.approx([1.495]) and pg == pytest.approx([1.495])


def test_vtrace_clipping_bounds_the_off_policy_correction():
    """Book, "V-trace" ("Key parameters"): log-ratios 5 with rewards [1, 0], V = 0, bootstrap 0.

    With rho_bar = c_bar = 1 the ratio e^5 counts as 1: v = [1, 0]. With thresholds 200 it counts
    in full: v_0 = e^5 * 1 = 148.41. The book asserts clipped <= unclipped.
    """
    clipped, _ = _vtrace([5.0, 5.0], [0.99, 0.99], [1.0, 0.0], [0.0, 0.0], 0.0)
    unclipped, pg = _vtrace([5.0, 5.0], [0.99, 0.99], [1.0, 0.0], [0.0, 0.0], 0.0, rho_bar=200.0, c_bar=200.0)
    assert clipped == pytest.approx([1.0, 0.0])
    assert unclipped == pytest.approx([math.exp(5.0), 0.0])
    assert pg == pytest.approx([math.exp(5.0), 0.0])
    assert clipped[0] <= unclipped[0]


def test_vtrace_terminal_and_non_terminal_bootstrap():
    """Book, "V-trace": one zero-reward step: bootstrap 0 gives v = 0, bootstrap 1 gives v = 0.99."""
    terminal, _ = _vtrace([0.0], [0.99], [0.0], [0.0], 0.0)
    non_terminal, _ = _vtrace([0.0], [0.99], [0.0], [0.0], 1.0)
    assert terminal == pytest.approx([0.0]) and non_terminal == pytest.approx([0.99])


# ---- lambda-returns ----------------------------------------------------------------------------


def _lambda_returns(rewards, values, continues, gamma, lmbda):
    """The book's ``lambda_returns(rewards [H], values [H + 1], continues [H], gamma, lambda)``."""
    _, returns = td_lambda_return_estimate(
        gamma, lmbda, _col(values[:-1]), _col(values[1:]), _col(rewards), _col(continues)
    )
    return returns.flatten().tolist()


def test_lambda_returns_lambda_zero_is_one_step_td():
    """Book, "Imagination Rollouts" ("Lambda-returns"): lambda 0, r = [1, 2], V = [10, 20, 30]: R = [20.8, 31.7]."""
    assert _lambda_returns([1.0, 2.0], [10.0, 20.0, 30.0], [1.0, 1.0], 0.99, 0.0) == pytest.approx([20.8, 31.7])


def test_lambda_returns_lambda_one_is_the_bootstrapped_return():
    """Book, "Imagination Rollouts": lambda 1: R_1 = 2 + 0.99 * 30 = 31.7, R_0 = 1 + 0.99 * 31.7 = 32.383."""
    assert _lambda_returns([1.0, 2.0], [10.0, 20.0, 30.0], [1.0, 1.0], 0.99, 1.0) == pytest.approx([32.383, 31.7])


def test_lambda_returns_zero_continuation_blocks_later_rewards():
    """Book, "Imagination Rollouts": rewards [1, 1, 1, 100, 100], V = 0, continues [1, 1, 0, 1, 1].

    The step with continuation 0 returns its reward, 1 (the book's assert), and the rewards of 100
    after it never reach the steps before: R_1 = 1 + 0.9405 = 1.9405, R_0 = 1 + 0.9405 * 1.9405 < 10.
    """
    returns = _lambda_returns([1.0, 1.0, 1.0, 100.0, 100.0], [0.0] * 6, [1.0, 1.0, 0.0, 1.0, 1.0], 0.99, 0.95)
    assert returns == pytest.approx([1.0 + 0.9405 * 1.9405, 1.9405, 1.0, 100.0 + 0.9405 * 100.0, 100.0])
    assert returns[0] < 10.0


def test_lambda_returns_all_continuing_is_the_discounted_return():
    """Book, "Imagination Rollouts": rewards 1, V = 0, lambda 1: R_0 = 1 + 0.99 * (1 + 0.99) = 2.9701."""
    assert _lambda_returns([1.0] * 3, [0.0] * 4, [1.0] * 3, 0.99, 1.0)[0] == pytest.approx(2.9701)


def test_lambda_returns_zero_continuations_give_the_immediate_rewards():
    """Book, "Imagination Rollouts": continues 0 everywhere: R = r = [5, 3, 7], whatever the values."""
    returns = _lambda_returns([5.0, 3.0, 7.0], [10.0, 20.0, 30.0, 40.0], [0.0] * 3, 0.99, 0.95)
    assert returns == pytest.approx([5.0, 3.0, 7.0])


# ---- UPGO: rl4py follows AlphaStar; the book's rule is transcribed to show where they differ ----


def _book_upgo(rewards, values, dones, last_value, gamma):
    """The seed book's UPGO rule ("UPGO (Self-Imitation Learning)"), transcribed to compare against.

    A step's own TD error decides: ``G_t = r_t + gamma (1 - done_t) G_{t+1}`` if it is >= 0, else
    ``G_t = V(s_t)`` (advantage 0), with ``G_T = last_value``.
    """
    targets, next_target = [0.0] * len(rewards), last_value
    for t in reversed(range(len(rewards))):
        next_value = values[t + 1] if t + 1 < len(rewards) else last_value
        not_done = 0.0 if dones[t] else 1.0
        td = rewards[t] + gamma * next_value * not_done - values[t]
        targets[t] = rewards[t] + gamma * not_done * next_target if td >= 0 else values[t]
        next_target = targets[t]
    return [g - v for g, v in zip(targets, values)]


def _upgo(rewards, values, dones, last_value, gamma):
    value, next_value, reward, done = _rollout(rewards, values, dones, last_value)
    advantage, _ = upgo_advantage_estimate(gamma, value, next_value, reward, done)
    return advantage.flatten().tolist()


# (rewards, values, dones, last_value, gamma, AlphaStar's advantage = rl4py's, the book's advantage)
UPGO_DIFFERENT = {
    "overestimated_values": ([0.0] * 3, [10.0] * 3, [False] * 3, 10.0, 0.99, [-0.1, -0.1, -0.1], [0.0, 0.0, 0.0]),
    "worse_last_step": ([1.0, 0.0], [0.0, 5.0], [False, False], 0.0, 1.0, [6.0, -5.0], [6.0, 0.0]),
    "worse_terminal_step": ([0.0], [5.0], [True], 0.0, 1.0, [-5.0], [0.0]),
}


@pytest.mark.parametrize("case", sorted(UPGO_DIFFERENT))
def test_upgo_cases_where_the_book_rule_differs_from_alphastar(case):
    """Book, "UPGO (Self-Imitation Learning)": the three cases where the book's rule and AlphaStar's differ.

    rl4py follows AlphaStar (Vinyals et al., 2019): ``G_t`` falls back on ``r_t + gamma V(s_{t+1})``
    when the *next* step's TD error is negative, so a worse-than-expected step keeps its (negative)
    one-step TD error as advantage. The book's rule gives such a step its value as target, i.e. an
    advantage of 0: V = 10 with zero rewards (TD errors -0.1 each), a last step whose value 5 is
    not met ([1, 0] with V = [0, 5]), and a terminal step with V = 5 and reward 0. rl4py's numbers
    are pinned; the book's are computed beside them (docs/guide/upgo.md has the table).
    """
    rewards, values, dones, last_value, gamma, alphastar, book = UPGO_DIFFERENT[case]
    assert _upgo(rewards, values, dones, last_value, gamma) == pytest.approx(alphastar)
    assert _book_upgo(rewards, values, dones, last_value, gamma) == pytest.approx(book)
    assert alphastar != pytest.approx(book)


UPGO_SAME = {
    "all_upgoing_until_a_termination": ([1.0] * 3, [0.0] * 3, [False, False, True], 0.0, 0.99, [2.9701, 1.99, 1.0]),
    "zero_td_error_propagates": ([2.0, 0.0], [0.0, 5.0], [False, False], 5.0, 1.0, [7.0, 0.0]),
    "episode_boundary": ([1.0] * 4, [0.0] * 4, [False, True, False, False], 0.0, 0.99, [1.99, 1.0, 1.99, 1.0]),
    "single_better_terminal_step": ([2.0], [1.0], [True], 0.0, 1.0, [1.0]),
}


@pytest.mark.parametrize("case", sorted(UPGO_SAME))
def test_upgo_cases_where_both_rules_agree(case):
    """Book, "UPGO (Self-Imitation Learning)": its other worked cases, where no step did worse than expected.

    Both rules then follow the trajectory: n-step returns cut at episode ends (2.9701, 1.99, 1),
    a TD error of exactly 0 counts as upgoing (A = [7, 0]), a better terminal step gets r - V = 1.
    """
    rewards, values, dones, last_value, gamma, expected = UPGO_SAME[case]
    assert _upgo(rewards, values, dones, last_value, gamma) == pytest.approx(expected)
    assert _book_upgo(rewards, values, dones, last_value, gamma) == pytest.approx(expected)


# ---- multi-head value decomposition ------------------------------------------------------------


def test_multi_head_value_loss_is_the_mse_of_each_head():
    """Book, "Multi-Head Value Decomposition" ("Per-head value loss"): one MSE per head.

    Head 0 predicts [1, 2, 3] against [1.5, 2.5, 3.5]: 0.25; head 1 is exact: 0. rl4py puts the
    heads on the last dim ([*B, N]), the book on the first ([N][T]).
    """
    predictions = torch.tensor([[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]])
    targets = torch.tensor([[1.5, 4.0], [2.5, 5.0], [3.5, 6.0]])
    torch.testing.assert_close(multi_head_value_loss(predictions, targets), torch.tensor([0.25, 0.0]))


def test_multi_head_gae_one_head_is_gae_and_a_done_resets_every_head():
    """Book, "Multi-Head Value Decomposition": one head equals GAE; a done step resets every head.

    One head, rewards [1, 2, 3], V = 0.5, the episode ends at step 2, last value 1: the advantages
    of :func:`generalized_advantage_estimate` (2.5 at the end, then 1.995 + 0.9405 * 2.5, ...). Two
    heads with gammas 0.5 and 0.99, rewards 1, V = 0, done at step 1 of 4: both heads' advantage
    at the terminal step is its reward, 1.
    """
    value, next_value, reward, done = _rollout([1.0, 2.0, 3.0], [0.5] * 3, [False, False, True], 1.0)
    combined, heads, target = multi_head_generalized_advantage_estimate(
        [0.99], [0.95], [1.0], value, next_value, reward, done
    )
    a1 = 1.995 + 0.9405 * 2.5
    expected = _col([0.995 + 0.9405 * a1, a1, 2.5])
    torch.testing.assert_close(heads, expected)
    torch.testing.assert_close(combined, expected)
    torch.testing.assert_close(target, expected + 0.5)

    value, next_value, reward, done = _rollout([1.0] * 4, [0.0] * 4, [False, True, False, False], 0.0)
    two = [x.expand(1, 4, 2) for x in (value, next_value, reward)]
    _, heads, _ = multi_head_generalized_advantage_estimate([0.5, 0.99], [0.95, 0.95], [0.5, 0.5], *two, done)
    torch.testing.assert_close(heads[0, 1], torch.tensor([1.0, 1.0], dtype=torch.float64))
    # and before it each head discounts with its own gamma: 1 + 0.5 * 0.95 against 1 + 0.99 * 0.95
    torch.testing.assert_close(heads[0, 0], torch.tensor([1.475, 1.9405], dtype=torch.float64))
