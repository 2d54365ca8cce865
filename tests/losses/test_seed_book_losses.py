"""The seed book's worked numbers for the losses, pinned with rl4py's public loss functions.

Each test cites the book chapter (``shared/seed/rl4burn-book.txt``) that documents the loss; the
worked inputs are those of rl4burn's unit tests of the function that chapter documents.
"""

from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule

from rl4py.losses import (
    PPOLoss,
    bc_loss_discrete,
    bc_loss_multi_head,
    categorical_kl,
    huber_value_loss,
    value_distillation_loss,
)
from rl4py.losses.functional import clipped_surrogate

# ---- dual-clip PPO -----------------------------------------------------------------------------

# (ratio, advantage, the dual-clip objective with clip_epsilon 0.2 and c = 3)
DUAL_CLIP = [(1.5, 2.0, 2.4), (5.0, -0.1, -0.3), (0.01, -0.5, -0.4)]


def _surrogate(ratio: float, advantage: float, dual_clip: float | None = 3.0) -> float:
    log_ratio, adv = torch.tensor([math.log(ratio)]), torch.tensor([advantage])
    return clipped_surrogate(log_ratio, adv, 0.2, dual_clip).item()


@pytest.mark.parametrize(("ratio", "advantage", "expected"), DUAL_CLIP)
def test_dual_clip_worked_cases(ratio, advantage, expected):
    """Book, "Dual-Clip PPO": ``max(min(r A, clip(r, 1 - eps, 1 + eps) A), c A)`` where ``A < 0``.

    - r = 1.5, A = 2: a positive advantage is standard PPO, min(3, 1.2 * 2) = 2.4;
    - r = 5, A = -0.1: standard PPO gives min(-0.5, -0.12) = -0.5, the floor c A = -0.3 wins;
    - r = 0.01, A = -0.5: standard PPO gives min(-0.005, 0.8 * -0.5) = -0.4, above the floor -1.5.
    """
    assert _surrogate(ratio, advantage) == pytest.approx(expected, abs=1e-6)


def test_dual_clip_changes_only_the_extreme_negative_case():
    """Book, "Dual-Clip PPO": without the dual clip the three cases give 2.4, -0.5 and -0.4."""
    plain = [_surrogate(ratio, advantage, None) for ratio, advantage, _ in DUAL_CLIP]
    assert plain == pytest.approx([2.4, -0.5, -0.4], abs=1e-6)


@pytest.mark.parametrize("advantage", [-2.0, -0.5, 0.0, 0.5, 2.0])
def test_dual_clip_at_ratio_one_is_the_advantage(advantage):
    """Book, "Dual-Clip PPO": at ratio 1 the objective is the advantage itself."""
    assert _surrogate(1.0, advantage) == pytest.approx(advantage, abs=1e-6)


def test_dual_clip_bounds_negative_advantages_between_c_a_and_zero():
    """Book, "Dual-Clip PPO": "the objective can't go below c * advantage" (and stays <= 0) for A < 0."""
    for ratio in (0.01, 0.5, 1.0, 1.5, 5.0, 10.0):
        for advantage in (-2.0, -1.0, -0.5, -0.1):
            assert 3.0 * advantage - 1e-6 <= _surrogate(ratio, advantage) <= 1e-6


class _OneActionActor:
    """A policy with a single action: log pi(a|s) = 0, so the ratio is exp(-old log-prob)."""

    def get_dist(self, td: TensorDict) -> torch.distributions.Distribution:
        return torch.distributions.Categorical(logits=torch.zeros(*td.batch_size, 1))


def test_ppo_loss_with_dual_clip_averages_the_worked_cases():
    """Book, "Dual-Clip PPO" (``dual_clip_coef: Some(3.0)``): PPOLoss(dual_clip=3) on the three cases.

    loss_objective = -mean(2.4, -0.3, -0.4) = -1.7 / 3; without the dual clip -mean(2.4, -0.5, -0.4).
    """
    ratios = torch.tensor([[r] for r, _, _ in DUAL_CLIP])
    td = TensorDict(
        {
            "observation": torch.zeros(3, 1),
            "action": torch.zeros(3, dtype=torch.long),
            "action_log_prob": -ratios.log(),
            "advantage": torch.tensor([[a] for _, a, _ in DUAL_CLIP]),
            "value_target": torch.zeros(3, 1),
        },
        batch_size=[3],
    )
    critic = TensorDictModule(torch.nn.Linear(1, 1), in_keys=["observation"], out_keys=["state_value"])
    options = {"entropy_coeff": 0.0, "clip_value": False, "normalize_advantage": False}
    dual = PPOLoss(_OneActionActor(), critic, dual_clip=3.0, **options)(td)
    plain = PPOLoss(_OneActionActor(), critic, **options)(td)
    assert dual["loss_objective"].item() == pytest.approx(-(2.4 - 0.3 - 0.4) / 3, abs=1e-6)
    assert plain["loss_objective"].item() == pytest.approx(-(2.4 - 0.5 - 0.4) / 3, abs=1e-6)


# ---- KL, Huber, distillation -------------------------------------------------------------------


def test_categorical_kl_of_a_peaked_against_a_uniform_distribution():
    """Book, "KL Balancing with Free Bits" ("Standalone KL"): ``categorical_kl(p_logits, q_logits)``.

    p = [0.7, 0.1, 0.1, 0.1], q uniform over 4: KL = 0.7 ln(0.7 / 0.25) + 3 * 0.1 ln(0.1 / 0.25)
    = 0.445846.
    """
    p_logits = torch.tensor([[0.7, 0.1, 0.1, 0.1]], dtype=torch.float64).log()
    q_logits = torch.full((1, 4), 0.25, dtype=torch.float64).log()
    kl = categorical_kl(p_logits, q_logits)
    assert kl.shape == (1,)
    assert kl.item() == pytest.approx(0.445846, abs=1e-6)
    assert kl.item() == pytest.approx(0.7 * math.log(0.7 / 0.25) + 0.3 * math.log(0.1 / 0.25), rel=1e-12)


@pytest.mark.parametrize(
    ("error", "expected"),
    [(0.5, 0.5 * 0.5**2), (3.0, 3.0 - 0.5), (0.0, 0.0)],
)
def test_huber_value_loss_is_quadratic_then_linear(error, expected):
    """Book, "Policy & Value Losses" ("Value loss (Huber)", delta = 1).

    An error of 0.5 is in the quadratic part, 0.5 * 0.5^2 = 0.125; an error of 3 in the linear
    part, 3 - 0.5 = 2.5; no error, 0.
    """
    loss = huber_value_loss(torch.tensor([0.0]), torch.tensor([error]))
    assert loss.item() == pytest.approx(expected, abs=1e-7)


def test_huber_value_loss_is_below_half_the_squared_error_for_outliers():
    """Book, "Policy & Value Losses": an error of 5 costs 4.5 under Huber against 0.5 * 25 = 12.5 squared."""
    assert huber_value_loss(torch.tensor([0.0]), torch.tensor([5.0])).item() == pytest.approx(4.5)


def test_value_distillation_loss_is_the_mean_squared_error():
    """Book, "Policy Distillation" ("Value distillation"): teacher [1, 2, 3], student 0: (1 + 4 + 9) / 3 = 14/3."""
    loss = value_distillation_loss(torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3))
    assert loss.item() == pytest.approx(14.0 / 3.0, rel=1e-6)


# ---- behavioural cloning -----------------------------------------------------------------------


def test_bc_uniform_policy_scores_ln_k():
    """Book, "Behavioral Cloning" ("Tips"): a uniform policy's cross-entropy is ln K (K = 4, 64 samples)."""
    loss = bc_loss_discrete(torch.zeros(64, 4), torch.arange(64) % 4)
    assert loss.item() == pytest.approx(math.log(4.0), abs=1e-6)


def test_bc_multi_head_loss_sums_the_heads():
    """Book, "Behavioral Cloning" ("Multi-head actions"): heads of 3 and 4 actions, uniform logits.

    The loss sums each head's mean cross-entropy: ln 3 + ln 4 = ln 12.
    """
    actions = torch.tensor([[0, 1]] * 8)
    loss = bc_loss_multi_head(torch.zeros(8, 7), actions, [3, 4])
    assert loss.item() == pytest.approx(math.log(3.0) + math.log(4.0), abs=1e-6)
