"""The Nash mixture of a population from its payoff matrix (PSRO's meta-solver; AlphaStar's "Nash of the league")."""

from __future__ import annotations

import torch

__all__ = ["nash_mixture"]


def nash_mixture(payoffs: torch.Tensor, iterations: int = 3000) -> torch.Tensor:
    """An approximate Nash equilibrium of the symmetric zero-sum game ``payoffs``, by regret matching
    (the time average of the regret-matching strategies, which converges to the equilibrium).

    Args:
        payoffs: ``[N, N]``, entry ``(i, j)`` the expected payoff of member ``i`` against member ``j``;
            antisymmetric (``payoffs[j, i] == -payoffs[i, j]``), as a symmetrized two-player zero-sum
            game's is.
        iterations: regret-matching steps (the gap to the equilibrium shrinks as ``1 / sqrt(iterations)``).

    Returns:
        ``[N]`` float64 probabilities: how often to draw each member.

    Raises:
        ValueError: ``payoffs`` is not square, not finite or not antisymmetric, or ``iterations`` < 1.

    Examples:
        >>> rock_paper_scissors = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
        >>> nash_mixture(rock_paper_scissors).round(decimals=2).tolist()
        [0.33, 0.33, 0.33]
    """
    if not isinstance(payoffs, torch.Tensor) or payoffs.dim() != 2 or payoffs.shape[0] != payoffs.shape[1]:
        got = tuple(payoffs.shape) if isinstance(payoffs, torch.Tensor) else type(payoffs).__name__
        raise ValueError(f"nash_mixture: payoffs must be a square [N, N] tensor, got {got}")
    if payoffs.shape[0] < 1:
        raise ValueError("nash_mixture: payoffs is empty; expected at least one member")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"nash_mixture: iterations must be an int >= 1, got {iterations!r}")
    matrix = payoffs.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError("nash_mixture: payoffs holds NaN or inf; expected finite expected payoffs")
    if not torch.allclose(matrix, -matrix.T, atol=1e-6):
        raise ValueError("nash_mixture: payoffs must be antisymmetric (payoffs[j, i] == -payoffs[i, j])")
    n = matrix.shape[0]
    uniform = torch.full((n,), 1.0 / n, dtype=torch.float64)
    strategy, regrets, average = (
        uniform.clone(),
        torch.zeros(n, dtype=torch.float64),
        torch.zeros(n, dtype=torch.float64),
    )
    for _ in range(iterations):
        values = matrix @ strategy
        regrets = (regrets + values - strategy @ values).clamp(min=0.0)
        total = regrets.sum()
        strategy = regrets / total if total > 0 else uniform
        average += strategy
    return average / average.sum()
