"""The seed book's worked numbers for the action distributions, pinned with rl4py's distributions.

Each test cites the book chapter (``shared/seed/rl4burn-book.txt``) that documents the behaviour;
the worked inputs are those of rl4burn's unit tests of its ``ActionDist``. Expected values are
written out from the closed forms (log-softmax, ``ln K``, the Gaussian density), not taken from
the code under test.
"""

from __future__ import annotations

import math

import pytest
import torch

from rl4py.modules import Categorical, DiagGaussian, MaskedCategorical, MultiCategorical


def _log_softmax_at(logits: list[float], index: int) -> float:
    return logits[index] - math.log(sum(math.exp(x) for x in logits))


def test_discrete_log_prob_is_the_log_softmax_of_the_action():
    """Book, "PPO (Proximal Policy Optimization)" (discrete actions): log pi(a) = log softmax(logits)[a].

    Logits [1, 2, 3] and action 1: 2 - ln(e + e^2 + e^3) = -1.40761; uniform logits over 3: -ln 3.
    """
    dist = Categorical(torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], dtype=torch.float64))
    log_prob = dist.log_prob(torch.tensor([1, 2])).tolist()
    assert log_prob == pytest.approx([_log_softmax_at([1.0, 2.0, 3.0], 1), -math.log(3.0)], abs=1e-12)
    assert log_prob[0] == pytest.approx(-1.4076059644, abs=1e-9)


def test_multi_discrete_log_prob_is_the_sum_over_heads():
    """Book, "Auto-Regressive Action Distributions" ("log P(a) = log P(a1) + log P(a2)") and "PPO"
    ("Multi-discrete actions"): heads of 3 and 4 over 7 flat logits [1, 2, 3 | 0.5, 1.5, 2.5, 3.5].

    Action (0, 2): (1 - lse(1, 2, 3)) + (2.5 - lse(0.5, 1.5, 2.5, 3.5)) = -2.40761 - 1.44019.
    """
    logits = [1.0, 2.0, 3.0, 0.5, 1.5, 2.5, 3.5]
    dist = MultiCategorical(torch.tensor([logits], dtype=torch.float64), [3, 4])
    expected = _log_softmax_at(logits[:3], 0) + _log_softmax_at(logits[3:], 2)
    assert dist.log_prob(torch.tensor([[0, 2]])).item() == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(-3.8477956630, abs=1e-9)


def test_multi_discrete_entropy_is_the_sum_over_heads():
    """Book, "Auto-Regressive Action Distributions" ("Entropy: sum of per-head entropies"): uniform
    heads of 3 and 4 choices give ln 3 + ln 4 = ln 12."""
    dist = MultiCategorical(torch.zeros(1, 7), [3, 4])
    assert dist.entropy().item() == pytest.approx(math.log(3.0) + math.log(4.0), abs=1e-6)


def test_one_head_multi_discrete_is_the_discrete_distribution():
    """Book, "PPO" (multi-discrete with one dimension is the discrete case): same log-prob and entropy."""
    logits = torch.tensor([[0.1, 0.5, 0.3, 0.8, 0.2]])
    single, multi = Categorical(logits), MultiCategorical(logits, [5])
    assert multi.log_prob(torch.tensor([[3]])).item() == pytest.approx(single.log_prob(torch.tensor([3])).item())
    assert multi.entropy().item() == pytest.approx(single.entropy().item())
    assert single.log_prob(torch.tensor([3])).item() == pytest.approx(_log_softmax_at([0.1, 0.5, 0.3, 0.8, 0.2], 3))


def test_masking_removes_actions_from_the_entropy():
    """Book, "PPO" ("Action masking": masked actions get zero probability): uniform logits over 4
    have entropy ln 4; with 2 actions masked out, ln 2; with one left, log-prob 0 and entropy 0."""
    logits = torch.zeros(1, 4)
    assert Categorical(logits).entropy().item() == pytest.approx(math.log(4.0), abs=1e-6)
    two = MaskedCategorical(logits, torch.tensor([[True, True, False, False]]))
    assert two.entropy().item() == pytest.approx(math.log(2.0), abs=1e-6)
    one = MaskedCategorical(logits, torch.tensor([[False, False, True, False]]))
    assert one.log_prob(torch.tensor([2])).item() == pytest.approx(0.0, abs=1e-6)
    assert one.entropy().item() == pytest.approx(0.0, abs=1e-6)


def test_gaussian_log_prob_and_entropy_at_unit_scale():
    """Book, "PPO" ("Continuous action spaces", state-independent log_std): 2 dims, mean 0, log_std 0.

    The density at the mean is -0.5 ln(2 pi) per dim, -ln(2 pi) = -1.837877 in all; the entropy
    is log_std + 0.5 (1 + ln(2 pi)) per dim, 1 + ln(2 pi) = 2.837877.
    """
    dist = DiagGaussian(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    assert dist.log_prob(torch.zeros(1, 2, dtype=torch.float64)).item() == pytest.approx(-math.log(2 * math.pi))
    assert dist.entropy().item() == pytest.approx(1.0 + math.log(2 * math.pi))
    assert dist.entropy().item() == pytest.approx(2.8378770664, abs=1e-9)


@pytest.mark.parametrize(("log_std", "clamped"), [(10.0, 2.0), (-10.0, -5.0), (0.5, 0.5)])
def test_gaussian_log_std_is_clamped_to_minus_five_two(log_std, clamped):
    """Book, "PPO" ("log_std clamping"): log_std is clamped to [-5, 2] in sampling, log-prob and entropy.

    One dim at its mean: log-prob = -clamped - 0.5 ln(2 pi), entropy = clamped + 0.5 (1 + ln(2 pi)).
    """
    dist = DiagGaussian(torch.zeros(1, 1, dtype=torch.float64), torch.full((1,), log_std, dtype=torch.float64))
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    assert dist.log_prob(torch.zeros(1, 1, dtype=torch.float64)).item() == pytest.approx(-clamped - half_log_2pi)
    assert dist.entropy().item() == pytest.approx(clamped + 0.5 + half_log_2pi)
    assert dist.scale.item() == pytest.approx(math.exp(clamped))
