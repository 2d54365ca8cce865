"""nash_mixture: the meta-solver of PSRO against games with known equilibria."""

import pytest
import torch

from rl4py.multiagent import nash_mixture


def test_rock_paper_scissors_is_uniform_and_a_dominated_member_gets_nothing():
    rps = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    torch.testing.assert_close(
        nash_mixture(rps, 20_000), torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01, rtol=0
    )
    # a fourth member that loses to everyone by 1: never played at the equilibrium
    weak = torch.zeros(4, 4)
    weak[:3, :3] = rps
    weak[3, :3], weak[:3, 3] = -1.0, 1.0
    mixture = nash_mixture(weak, 20_000)
    assert mixture[3] < 0.01 and abs(float(mixture.sum()) - 1.0) < 1e-9


def test_the_mixture_is_an_equilibrium_no_member_gains_against_it():
    generator = torch.Generator().manual_seed(0)
    raw = torch.randn(12, 12, generator=generator, dtype=torch.float64)
    payoffs = raw - raw.T
    mixture = nash_mixture(payoffs, 20_000)
    # the game's value is 0 (symmetric): the best member against the mixture gains almost nothing
    assert float((payoffs @ mixture).max()) < 0.02


def test_bad_payoffs_are_refused():
    with pytest.raises(ValueError, match="square"):
        nash_mixture(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="antisymmetric"):
        nash_mixture(torch.ones(2, 2))
    with pytest.raises(ValueError, match="finite"):
        nash_mixture(torch.tensor([[0.0, float("nan")], [float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="iterations"):
        nash_mixture(torch.zeros(2, 2), iterations=0)
