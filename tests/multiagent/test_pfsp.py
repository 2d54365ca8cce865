"""PFSP: each weighting against hand-computed probabilities, the floor, unseen opponents, seeded draws."""

from __future__ import annotations

import pytest
import torch

from rl4py.multiagent import PFSP, PayoffTable, pfsp_probabilities, pfsp_weights

P = torch.tensor([0.9, 0.5, 0.2, 1.0], dtype=torch.float64)

# f(p) by hand for p = 0.9, 0.5, 0.2, 1.0, then normalized
HAND = {
    ("hard", 3.0): [0.001, 0.125, 0.512, 0.0],
    ("hard", 1.0): [0.1, 0.5, 0.8, 0.0],
    ("hard", 0.0): [1.0, 1.0, 1.0, 1.0],
    ("linear", None): [0.1, 0.5, 0.8, 0.0],
    ("squared", None): [0.01, 0.25, 0.64, 0.0],
    ("variance", None): [0.09, 0.25, 0.16, 0.0],
    ("linear_capped", None): [0.1, 0.5, 0.5, 0.0],
    ("uniform", None): [1.0, 1.0, 1.0, 1.0],
}


@pytest.mark.parametrize(("weighting", "power"), list(HAND))
def test_each_weighting_matches_hand_computed_probabilities(weighting, power):
    weights = torch.tensor(HAND[weighting, power], dtype=torch.float64)
    torch.testing.assert_close(pfsp_weights(P, weighting, power=power), weights)
    torch.testing.assert_close(pfsp_probabilities(P, weighting, power=power), weights / weights.sum())


def test_hard_defaults_to_power_two():
    torch.testing.assert_close(pfsp_weights(P), pfsp_weights(P, "squared"))


def test_min_prob_is_a_floor_mixed_with_the_weighting():
    # linear on p = 0.9, 0.5, 0.2, 1.0: q = [0.1, 0.5, 0.8, 0] / 1.4; with min_prob 0.1 and N = 4:
    # P = 0.1 + 0.6 q
    probs = pfsp_probabilities(P, "linear", min_prob=0.1)
    expected = torch.tensor(
        [0.1 + 0.6 * 0.1 / 1.4, 0.1 + 0.6 * 0.5 / 1.4, 0.1 + 0.6 * 0.8 / 1.4, 0.1], dtype=torch.float64
    )
    torch.testing.assert_close(probs, expected)
    assert probs.min() == pytest.approx(0.1) and probs.sum() == pytest.approx(1.0)
    # a floor above 1 / N can only be uniform
    torch.testing.assert_close(
        pfsp_probabilities(P, "linear", min_prob=0.3), torch.full((4,), 0.25, dtype=torch.float64)
    )


def test_all_zero_weights_draw_uniformly():
    # every opponent always beaten: (1 - p) ** 2 is zero everywhere, as in AlphaStar's pseudo-code
    torch.testing.assert_close(pfsp_probabilities(torch.ones(3)), torch.full((3,), 1 / 3, dtype=torch.float64))


def test_draws_count_half_in_the_priorities():
    table = PayoffTable(["me", "drawer", "beater"])
    table.update("me", "drawer", draws=10)  # p = 0.5
    table.update("me", "beater", wins=2, draws=4, losses=4)  # p = (2 + 2) / 10 = 0.4
    pfsp = PFSP(table, "variance")
    # variance: 0.25 and 0.24
    torch.testing.assert_close(
        pfsp.probabilities("me", ["drawer", "beater"]), torch.tensor([0.25, 0.24]).double() / 0.49
    )
    torch.testing.assert_close(
        PFSP(table, "hard", power=1).probabilities("me", ["drawer", "beater"]),
        torch.tensor([0.5, 0.6], dtype=torch.float64) / 1.1,
    )


def test_unseen_opponents_are_sampled_first():
    table = PayoffTable(["me", "a", "b", "new_1", "new_2"])
    table.update("me", "a", wins=1, losses=9)
    table.update("me", "b", wins=5, losses=5)
    candidates = ["a", "b", "new_1", "new_2"]
    pfsp = PFSP(table, "hard", min_prob=0.05)
    torch.testing.assert_close(pfsp.probabilities("me", candidates), torch.tensor([0, 0, 0.5, 0.5]).double())
    generator = torch.Generator().manual_seed(0)
    assert {pfsp.sample("me", candidates, generator) for _ in range(50)} == {"new_1", "new_2"}
    # once both new ones played, the hard weighting and the floor take over
    table.record("me", "new_1", "win")
    table.record("me", "new_2", "draw")
    # p = 0.1, 0.5, 1.0, 0.5: (1 - p) ** 2 = 0.81, 0.25, 0, 0.25
    q = torch.tensor([0.81, 0.25, 0.0, 0.25], dtype=torch.float64) / 1.31
    torch.testing.assert_close(pfsp.probabilities("me", candidates), 0.05 + 0.8 * q)
    # "prior": AlphaStar's pseudo-code, unseen opponents weighed at p = 0.5
    table.add_player("new_3")
    prior = PFSP(table, "hard", unseen="prior")
    weights = torch.tensor([0.81, 0.25, 0.0, 0.25, 0.25], dtype=torch.float64)
    torch.testing.assert_close(prior.probabilities("me", [*candidates, "new_3"]), weights / weights.sum())


def test_seeded_sampling_is_reproducible_and_follows_the_probabilities():
    table = PayoffTable(["me", "a", "b", "c"])
    for name, wins in (("a", 8), ("b", 5), ("c", 2)):
        table.update("me", name, wins=wins, losses=10 - wins)
    pfsp = PFSP(table, "linear")
    first, second = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    draws = [pfsp.sample("me", ["a", "b", "c"], first) for _ in range(20)]
    assert draws == [pfsp.sample("me", ["a", "b", "c"], second) for _ in range(20)]
    assert len(set(draws)) > 1
    generator = torch.Generator().manual_seed(1)
    n = 6000
    counts = {name: 0 for name in "abc"}
    for _ in range(n):
        counts[pfsp.sample("me", ["a", "b", "c"], generator)] += 1
    # linear: 0.2, 0.5, 0.8 over 1.5; binomial sd <= 37 draws, margin ~4.5 sd
    for name, weight in zip("abc", (0.2, 0.5, 0.8)):
        assert abs(counts[name] - n * weight / 1.5) < 170, counts


def test_errors_name_what_was_wrong():
    table = PayoffTable(["me", "a"])
    with pytest.raises(ValueError, match="power must be >= 0"):
        PFSP(table, "hard", power=-1)
    with pytest.raises(ValueError, match="power is read by weighting='hard' only"):
        PFSP(table, "variance", power=2)
    with pytest.raises(ValueError, match="weighting must be one of"):
        PFSP(table, "harder")
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"min_prob must be in \[0, 1\)"):
            PFSP(table, min_prob=bad)
    with pytest.raises(ValueError, match="unseen must be 'first' or 'prior'"):
        PFSP(table, unseen="last")
    with pytest.raises(TypeError, match="payoff must be a PayoffTable"):
        PFSP({"me": {}})
    pfsp = PFSP(table)
    with pytest.raises(ValueError, match="no candidate opponents for 'me'"):
        pfsp.probabilities("me", [])
    with pytest.raises(ValueError, match="candidates repeat an id"):
        pfsp.probabilities("me", ["a", "a"])
    with pytest.raises(KeyError, match="unknown player 'ghost'"):
        pfsp.probabilities("me", ["a", "ghost"])
    with pytest.raises(KeyError, match="unknown player 'nobody'"):
        pfsp.probabilities("nobody", ["a"])
    with pytest.raises(ValueError, match=r"win_rates must lie in \[0, 1\]"):
        pfsp_probabilities(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="non-empty 1-D tensor"):
        pfsp_probabilities(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="seen must be a bool tensor of shape"):
        pfsp_probabilities(torch.tensor([0.5, 0.5]), seen=torch.tensor([1, 0]))
