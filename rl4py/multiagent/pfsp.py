"""Prioritized fictitious self-play (PFSP): opponents drawn by how hard they are (AlphaStar).

AlphaStar (Vinyals et al., 2019) samples an opponent ``b`` for player ``a`` with probability
proportional to ``f(p(a beats b))``: ``f_hard(p) = (1 - p) ** power`` practises against the opponents
``a`` loses to, ``f_var(p) = p (1 - p)`` against the ones of its own level. :func:`pfsp_probabilities` is
that math on a tensor of win rates; :class:`PFSP` reads the win rates from a
:class:`~rl4py.multiagent.PayoffTable` and draws with a ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Literal

import torch

from rl4py.multiagent.payoff import PayoffTable

__all__ = ["WEIGHTINGS", "PFSP", "pfsp_probabilities", "pfsp_weights"]

Weighting = Literal["hard", "linear", "squared", "variance", "linear_capped", "uniform"]

#: the weightings ``f(p)`` of a win rate ``p`` (AlphaStar's pseudo-code names; ``hard`` takes a power)
WEIGHTINGS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "hard": lambda p, power: (1 - p).pow(power),
    "linear": lambda p, power: 1 - p,
    "squared": lambda p, power: (1 - p).square(),
    "variance": lambda p, power: p * (1 - p),
    "linear_capped": lambda p, power: (1 - p).clamp(max=0.5),
    "uniform": lambda p, power: torch.ones_like(p),
}


def _check_weighting(weighting: str, power: float | None, where: str) -> float:
    if weighting not in WEIGHTINGS:
        raise ValueError(f"{where}: weighting must be one of {sorted(WEIGHTINGS)}, got {weighting!r}")
    if weighting != "hard":
        if power is not None:
            raise ValueError(f"{where}: power is read by weighting='hard' only; {weighting!r} has none")
        return 1.0
    power = 2.0 if power is None else float(power)
    if not power >= 0:
        raise ValueError(f"{where}: power must be >= 0 (0 is uniform, larger focuses on hard opponents), got {power}")
    return power


def pfsp_weights(win_rates: torch.Tensor, weighting: Weighting = "hard", *, power: float | None = None) -> torch.Tensor:
    """The unnormalized PFSP weights ``f(p)`` of win rates ``p``.

    Args:
        win_rates: ``p(player beats opponent)`` in ``[0, 1]``, ``[N]``.
        weighting: ``"hard"`` ``(1 - p) ** power``; ``"linear"`` ``1 - p``; ``"squared"`` ``(1 - p) ** 2``;
            ``"variance"`` ``p (1 - p)``; ``"linear_capped"`` ``min(0.5, 1 - p)``; ``"uniform"`` 1.
        power: the exponent of ``"hard"`` (>= 0, default 2); an error with any other weighting.

    Returns:
        ``[N]`` weights >= 0, the dtype of ``win_rates``.
    """
    power = _check_weighting(weighting, power, "pfsp_weights")
    return WEIGHTINGS[weighting](_check_win_rates(win_rates, "pfsp_weights"), power)


def _check_win_rates(win_rates: torch.Tensor, where: str) -> torch.Tensor:
    if not isinstance(win_rates, torch.Tensor) or win_rates.ndim != 1 or win_rates.numel() == 0:
        shape = tuple(win_rates.shape) if isinstance(win_rates, torch.Tensor) else type(win_rates).__name__
        raise ValueError(f"{where}: win_rates must be a non-empty 1-D tensor [N], got {shape}")
    if not win_rates.is_floating_point():
        win_rates = win_rates.double()
    if not (torch.isfinite(win_rates).all() and (win_rates >= 0).all() and (win_rates <= 1).all()):
        raise ValueError(f"{where}: win_rates must lie in [0, 1], got {win_rates.tolist()}")
    return win_rates


def pfsp_probabilities(
    win_rates: torch.Tensor,
    weighting: Weighting = "hard",
    *,
    power: float | None = None,
    min_prob: float = 0.0,
    seen: torch.Tensor | None = None,
    unseen: Literal["first", "prior"] = "first",
    prior: float = 0.5,
) -> torch.Tensor:
    """The probability of drawing each opponent under PFSP.

    The weights ``f(p)`` (:func:`pfsp_weights`) are normalized; when they sum to (nearly) zero -- every
    opponent beaten with ``"hard"`` -- the draw is uniform, as in AlphaStar's pseudo-code. Then every
    opponent gets at least ``m = min(min_prob, 1 / N)``::

        P_i = m + (1 - N m) f(p_i) / sum_j f(p_j)

    Opponents never played (``seen`` false) are handled by ``unseen``: ``"first"`` draws uniformly among
    them alone until each has played once (their win rate means nothing yet); ``"prior"`` weighs them
    at the win rate ``prior`` like the others (AlphaStar's payoff reports 0.5 for them).

    Args:
        win_rates: ``p(player beats opponent)`` in ``[0, 1]``, ``[N]``.
        weighting, power: see :func:`pfsp_weights`.
        min_prob: the probability floor, in ``[0, 1)``.
        seen: bool ``[N]``, which opponents have played the player; ``None``: all of them.
        unseen: ``"first"`` or ``"prior"``, see above.
        prior: the win rate ``"prior"`` gives unseen opponents.

    Returns:
        float64 ``[N]`` probabilities summing to 1.

    Examples:
        >>> pfsp_probabilities(torch.tensor([0.9, 0.5, 0.1]), "linear")
        tensor([0.0667, 0.3333, 0.6000], dtype=torch.float64)
        >>> pfsp_probabilities(torch.tensor([0.9, 0.5]), "linear", seen=torch.tensor([True, False]))
        tensor([0., 1.], dtype=torch.float64)
    """
    win_rates = _check_win_rates(win_rates, "pfsp_probabilities").double()
    power = _check_weighting(weighting, power, "pfsp_probabilities")
    if not 0.0 <= min_prob < 1.0:
        raise ValueError(f"pfsp_probabilities: min_prob must be in [0, 1), got {min_prob}")
    if unseen not in ("first", "prior"):
        raise ValueError(f"pfsp_probabilities: unseen must be 'first' or 'prior', got {unseen!r}")
    if not 0.0 <= prior <= 1.0:
        raise ValueError(f"pfsp_probabilities: prior must be a win rate in [0, 1], got {prior}")
    n = win_rates.numel()
    if seen is not None:
        if not isinstance(seen, torch.Tensor) or seen.dtype != torch.bool or seen.shape != win_rates.shape:
            got = (seen.dtype, tuple(seen.shape)) if isinstance(seen, torch.Tensor) else type(seen).__name__
            raise ValueError(f"pfsp_probabilities: seen must be a bool tensor of shape {(n,)}, got {got}")
        seen = seen.cpu()
        if not seen.all():
            if unseen == "first":
                return (~seen).double() / (~seen).sum()
            win_rates = torch.where(seen, win_rates.cpu(), torch.full_like(win_rates, prior, device="cpu"))
    weights = WEIGHTINGS[weighting](win_rates.cpu(), power)
    total = weights.sum()
    probs = weights / total if total > 1e-10 else torch.full_like(weights, 1.0 / n)
    m = min(min_prob, 1.0 / n)
    return m + (1.0 - n * m) * probs


class PFSP:
    """PFSP matchmaking over a :class:`~rl4py.multiagent.PayoffTable`: the next opponent of a player.

    Args:
        payoff: the results the win rates are read from (shared with whoever records games).
        weighting, power: the priority ``f(p)``, see :func:`pfsp_weights`; AlphaStar's main agents use
            ``"hard"`` with power 2 (the default), its exploiters ``"variance"`` against a main agent
            they cannot beat yet.
        min_prob: every candidate's probability floor, in ``[0, 1)`` (no opponent starves).
        unseen: ``"first"``: opponents the player never met are drawn first, uniformly;
            ``"prior"``: they are weighed at the payoff's prior win rate (AlphaStar's pseudo-code).

    Examples:
        >>> table = PayoffTable(["me", "weak", "strong"])
        >>> table.update("me", "weak", wins=9, losses=1)
        >>> table.update("me", "strong", wins=1, losses=9)
        >>> pfsp = PFSP(table, "linear")
        >>> pfsp.probabilities("me", ["weak", "strong"])
        tensor([0.1000, 0.9000], dtype=torch.float64)
        >>> pfsp.sample("me", ["weak", "strong"], torch.Generator().manual_seed(0))
        'strong'
    """

    def __init__(
        self,
        payoff: PayoffTable,
        weighting: Weighting = "hard",
        *,
        power: float | None = None,
        min_prob: float = 0.0,
        unseen: Literal["first", "prior"] = "first",
    ) -> None:
        if not isinstance(payoff, PayoffTable):
            raise TypeError(f"PFSP: payoff must be a PayoffTable, got {type(payoff).__name__}")
        checked_power = _check_weighting(weighting, power, "PFSP")
        self.power = checked_power if weighting == "hard" else None
        if not 0.0 <= min_prob < 1.0:
            raise ValueError(f"PFSP: min_prob must be in [0, 1), got {min_prob}")
        if unseen not in ("first", "prior"):
            raise ValueError(f"PFSP: unseen must be 'first' or 'prior', got {unseen!r}")
        self.payoff = payoff
        self.weighting = weighting
        self.min_prob = float(min_prob)
        self.unseen = unseen

    def probabilities(self, player: Hashable, candidates: Sequence[Hashable]) -> torch.Tensor:
        """The probability of drawing each of ``candidates`` as ``player``'s opponent: float64 ``[N]``.

        Raises:
            ValueError: ``candidates`` is empty or repeats an id.
            KeyError: an id is not registered in the payoff table.
        """
        candidates = list(candidates)
        if not candidates:
            raise ValueError(f"PFSP: no candidate opponents for {player!r}")
        if len(set(candidates)) != len(candidates):
            raise ValueError(f"PFSP: candidates repeat an id: {candidates}")
        seen = torch.tensor([self.payoff.seen(player, c) for c in candidates])
        return pfsp_probabilities(
            self.payoff.win_rates(player, candidates),
            self.weighting,
            power=self.power,
            min_prob=self.min_prob,
            seen=seen,
            unseen=self.unseen,
            prior=self.payoff.prior,
        )

    def sample(self, player: Hashable, candidates: Sequence[Hashable], generator: torch.Generator) -> Hashable:
        """Draws one of ``candidates`` with :meth:`probabilities`, from ``generator``."""
        candidates = list(candidates)
        probs = self.probabilities(player, candidates)
        return candidates[int(torch.multinomial(probs, 1, generator=generator))]

    def __repr__(self) -> str:
        power = f", power={self.power}" if self.power is not None else ""
        return f"PFSP({self.weighting!r}{power}, min_prob={self.min_prob}, unseen={self.unseen!r})"
